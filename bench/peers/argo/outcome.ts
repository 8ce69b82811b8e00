/**
 * How an Argo row reads outcomes: a refused submission (the API server's admission answer) and a
 * Workflow's terminal phase seen on the row's watch. No I/O; ../argo.ts feeds them.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

/**
 * The error submit() rejects with. Only an admission refusal (403 Forbidden, 422 Invalid) reads as
 * "denied": any other failure (5xx, timeout, connection) is passed on as it is, so the parity check
 * can never count a broken submission as a policy decision.
 */
export function submitError(name: string, error: unknown): Error {
  const e = error as { code?: number; body?: unknown; message?: string };
  let reason = e.message ?? String(error);
  try {
    reason = (JSON.parse(String(e.body)) as { message?: string }).message ?? reason;
  } catch {
    // not a Status body
  }
  if (e.code === 403 || e.code === 422) return new Error(`argo: workflow ${name} denied: ${reason}`);
  return error instanceof Error ? error : new Error(reason);
}

/** A Workflow as the watch delivers it (only what is read here). */
export type WorkflowObj = KubernetesObject & { status?: { phase?: string; message?: string } };

interface Waiter {
  readonly resolve: (ms: number) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Argo's terminal record per Workflow: the Date.now() ms at which the watch first delivered phase
 * Succeeded. A Workflow that ends Failed or Error rejects its waiter at once (with Argo's message)
 * instead of timing out; DELETED events (reset) are ignored, so a Workflow of an earlier round never
 * re-enters after clear().
 */
export class WorkflowTerminal {
  private readonly done = new Map<string, number | Error>();
  private readonly waiting = new Map<string, Waiter>();
  private readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  onEvent(type: string, obj: WorkflowObj): void {
    const name = obj.metadata?.name ?? '';
    const phase = obj.status?.phase;
    if (type === 'DELETED' || this.done.has(name)) return;
    let outcome: number | Error;
    if (phase === 'Succeeded') outcome = Date.now();
    else if (phase === 'Failed' || phase === 'Error')
      outcome = new Error(`argo: workflow ${name} ended ${phase}: ${obj.status?.message ?? ''}`);
    else return;
    this.done.set(name, outcome);
    const w = this.waiting.get(name);
    this.waiting.delete(name);
    if (typeof outcome === 'number') w?.resolve(outcome);
    else w?.reject(outcome);
  }

  /** Resolves with the ms Succeeded was seen; rejects when it ended otherwise or after timeoutMs. */
  async at(name: string): Promise<number> {
    const known = this.done.get(name);
    if (typeof known === 'number') return known;
    if (known !== undefined) throw known;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<number>((resolve, reject) => {
        this.waiting.set(name, { resolve, reject });
        timer = setTimeout(
          () => reject(new Error(`argo: workflow ${name} not Succeeded after ${this.timeoutMs} ms`)),
          this.timeoutMs,
        );
      });
    } finally {
      clearTimeout(timer);
      this.waiting.delete(name);
    }
  }

  clear(): void {
    this.done.clear();
  }
}
