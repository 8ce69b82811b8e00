export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export const EXIT = Object.freeze({ ok: 0, failed: 1, usage: 2 });
