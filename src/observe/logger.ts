import { pino, type DestinationStream, type Logger } from 'pino';
import { maskText } from '../audit/mask.ts';

/**
 * Paths redacted at construction: tokens, credentials and env values never reach a log line, even
 * when a caller passes a whole object by mistake.
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'runner.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'headers.cookie',
  'jwt',
  'assignment',
  'body',
  '*.body',
  'env',
  '*.env',
  'secret',
  '*.secret',
  'password',
  '*.password',
  'privateKey',
  '*.privateKey',
];

/** Depth and breadth bounds of the value masking (a log call never walks an unbounded object). */
const MAX_DEPTH = 8;
const MAX_KEYS = 256;

/**
 * Credential-looking text (the audit log's patterns, audit/mask.ts) masked in every string of a log
 * object, at any key: what path redaction cannot know in advance (a URL with a password in an error
 * message, a bearer token in an argument).
 */
export function maskLogValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskText(value).text;
  if (depth >= MAX_DEPTH || typeof value !== 'object' || value === null) return value;
  if (value instanceof Error) {
    // An Error keeps its class name and own properties (code, errno, ...), with their text masked.
    const masked = Object.assign(new Error(maskText(value.message).text), maskLogValue({ ...value }, depth + 1));
    masked.name = value.name;
    if (value.stack !== undefined) masked.stack = maskText(value.stack).text;
    return masked;
  }
  if (Array.isArray(value)) return value.slice(0, MAX_KEYS).map((v: unknown) => maskLogValue(v, depth + 1));
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .slice(0, MAX_KEYS)
      .map(([k, v]) => [k, maskLogValue(v, depth + 1)]),
  );
}

/**
 * JSON logs with the seed's fields: timestamp, level (as a word), runner, message, and per event
 * workflow_id, step_name, image, namespace. Secrets are removed twice: by path (REDACT_PATHS) and by
 * value (maskLogValue on the object, maskText on the message).
 */
export function createLogger(runner: string, level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { runner },
      messageKey: 'message',
      timestamp: () => `,"timestamp":"${new Date().toISOString()}"`,
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => maskLogValue(object) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          const masked = args.map((a: unknown) => (typeof a === 'string' ? maskText(a).text : a)) as Parameters<
            typeof method
          >;
          method.apply(this, masked);
        },
      },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
