export * from "./agent.js";
export * from "./https.js";
export * from "./protocol.js";
