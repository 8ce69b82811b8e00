import type { Result } from '../errors/result.ts';

/** A step container's log (pods/log). The adapter is src/adapters/kube-pod-logs.ts; the twin MemoryPods. */
export interface PodLogs {
  /** The first `limitBytes` of a container's log. Returns a Result (LOG_READ_FAILED), never throws. */
  read(pod: string, container: string, limitBytes: number): Promise<Result<string>>;
}
