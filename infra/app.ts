import { createApp } from "./marketplace-app.js";

createApp().app.synth();
