import { z } from 'zod';
import { durationField, POSITIVE_DURATION } from '../units/units.ts';

/**
 * The `server` section: the HTTP listener of intake, probes and /metrics — address, the request
 * timeout and shutdown grace (seconds), and the most connections open at once.
 */
export const serverSection = z
  .strictObject({
    host: z.string().min(1).default('0.0.0.0'),
    port: z.int().min(0).max(65535).default(8080),
    requestTimeout: durationField(POSITIVE_DURATION).default(10),
    /**
     * Connections open at once on the port (intake, probes and /metrics together; keep-alive ones
     * count until closed). One more is closed as soon as it is accepted, before any byte of it is
     * read, and counted (kubiya_http_connections_refused_total). Bounds the file descriptors and
     * memory a flood of connections can hold; the timeouts bound each one's life. At least 8: fewer
     * and the probes, a scrape and the control plane's pushes would crowd each other out.
     */
    maxConnections: z.int().min(8).max(65_536).default(256),
    shutdownGrace: durationField().default(25),
  })
  .prefault({});
