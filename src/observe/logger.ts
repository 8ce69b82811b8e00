import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Paths redacted at construction: tokens, credentials and env values never reach a log line, even
 * when a caller passes a whole object by mistake.
 */
export const REDACT_PATHS = [
  'token', '*.token', 'runner.token', 'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
  'headers.cookie', 'jwt', 'assignment', 'body', '*.body', 'env', '*.env', 'secret', '*.secret', 'password', '*.password', 'privateKey', '*.privateKey',
];

export type Log = Pick<Logger, 'info' | 'warn' | 'error' | 'debug' | 'fatal' | 'child'>;

/**
 * JSON logs with the seed's fields: timestamp, level (as a word), runner, message, and per event
 * workflow_id, step_name, image, namespace.
 */
export function createLogger(runner: string, level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { runner },
      messageKey: 'message',
      timestamp: () => `,"timestamp":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
