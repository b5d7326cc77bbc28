/**
 * Stands in for `jsonschema` in Lambda bundles (esbuild `alias`). ElectroDB's only use of it is to
 * check entity models against its model schema when an `Entity` or `Service` is constructed. Our
 * models are constants: every test run builds them unbundled, with the real validator, so an
 * invalid model cannot reach a bundle. In a bundle the same check cost the bid worker about 150 ms of
 * its ~200 ms container build at every cold start (measured with --cpu-prof), plus 30 KiB.
 *
 * ElectroDB also asks the validator whether a value given to `new Service({...})` is a model or an
 * already built entity. That answer is kept: anything carrying ElectroDB's `_instance` marker (an
 * Entity or a Service) is reported as not a model; anything else is taken as a valid model.
 */
interface ValidationResult {
  errors: Array<{ property: string; message: string; argument?: unknown }>;
}

export class Validator {
  addSchema(): void {}

  validate(instance: unknown): ValidationResult {
    const built = typeof instance === "object" && instance !== null && "_instance" in instance;
    return {
      errors: built ? [{ property: "instance", message: "is a built ElectroDB instance, not a model" }] : [],
    };
  }
}
// ElectroDB registers custom formats on the prototype at load time.
(Validator.prototype as unknown as { customFormats: Record<string, unknown> }).customFormats = {};

export default { Validator };
