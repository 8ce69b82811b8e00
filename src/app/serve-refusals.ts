/**
 * `serve`'s refusal-summary timer: the refusal budget (src/pipeline/refusal-budget.ts) writes the
 * summary of a window once the window has ended, even when no refusal follows to notice it.
 */
import type { Intake } from './intake.ts';

/** How often `serve` looks whether the refusal budget's window has ended (ms); windows are 10 s or more. */
const REFUSAL_FLUSH_MS = 2000;

/** The running timer; `stop` ends it and writes every summary still pending (Intake.flushRefusals(true)). */
export interface RefusalSummaries {
  stop(): Promise<void>;
}

/** Starts the timer that writes the refusal budget's summaries once their window ends (unref'd: it keeps no process alive). */
export function refusalSummaryTimer(intake: Pick<Intake, 'flushRefusals'>): RefusalSummaries {
  const timer = setInterval(() => void intake.flushRefusals(), REFUSAL_FLUSH_MS);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      return intake.flushRefusals(true);
    },
  };
}
