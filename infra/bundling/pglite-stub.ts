/**
 * Stands in for `@electric-sql/pglite` in Lambda bundles (esbuild `alias`). On AWS the governance
 * store always connects to PostgreSQL through `pg` (DATABASE_URL), so embedded PGlite is never
 * started there; bundling it would add about 0.5 MB of JavaScript to every function, and its WASM
 * and data files would not be next to the bundle anyway. Reaching this stub is a configuration
 * error, reported as such.
 */
export const PGlite = {
  async create(): Promise<never> {
    throw new Error(
      "Embedded PGlite is not part of the Lambda bundle: configure DATABASE_URL_SECRET_ARN (a PostgreSQL server)",
    );
  },
};
