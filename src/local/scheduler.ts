/** EventBridge Scheduler's `rate(value unit)` expressions, the only kind the topology uses. */
const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const UNIT_MS: Record<string, number> = {
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};

/** The period of a `rate(...)` expression in milliseconds; anything else (e.g. `cron(...)`) throws. */
export function ratePeriodMs(expression: string): number {
  const match = RATE.exec(expression.trim());
  const value = Number(match?.[1]);
  const unit = match?.[2];
  if (!match || !unit || !Number.isSafeInteger(value) || value < 1) {
    throw new Error(
      `Unsupported schedule expression "${expression}": the local stack runs rate(N unit) only`,
    );
  }
  if ((value === 1) !== !unit.endsWith("s")) {
    // EventBridge refuses "rate(1 minutes)" and "rate(5 minute)"; so does this, to keep the two in step.
    throw new Error(
      `Invalid schedule expression "${expression}": use a singular unit for 1, plural otherwise`,
    );
  }
  return value * (UNIT_MS[unit] ?? 0);
}

export interface Schedule {
  /** Runs the job now unless a run is in progress (then waits for that one). */
  runNow(): Promise<void>;
  /** Cancels future runs and waits for one in progress. */
  stop(): Promise<void>;
}

/**
 * Runs `job` every `periodMs`, first one period after start (as a new EventBridge schedule does).
 * Runs never overlap: a tick that finds the previous run still going is skipped. A failing run is
 * reported to `onError` and the schedule carries on.
 */
export function startSchedule(
  periodMs: number,
  job: () => Promise<unknown>,
  onError: (error: unknown) => void,
): Schedule {
  let running: Promise<void> | undefined;
  const run = (): Promise<void> => {
    running ??= job()
      .then(
        () => {},
        (error: unknown) => onError(error),
      )
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(() => void run(), periodMs);
  timer.unref();
  return {
    runNow: run,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
