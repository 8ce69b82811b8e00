import { z } from 'zod';

/** The decision document every policy entrypoint must return (DESIGN §3), checked on the way out. */
export const violationSchema = z.strictObject({
  code: z.string().min(1).max(128),
  message: z.string().max(2048),
  path: z.string().max(512),
  policy: z.string().min(1).max(128),
  action: z.enum(['deny', 'warn', 'audit']),
});

export const destinationSchema = z.strictObject({
  host: z.string().min(1).max(253).optional(),
  cidr: z.string().min(1).max(64).optional(),
  cidrs: z.array(z.string().min(1).max(64)).max(64).optional(),
  ports: z.array(z.int().min(1).max(65535)).min(1).max(16),
});

export const decisionSchema = z.strictObject({
  allow: z.boolean(),
  violations: z.array(violationSchema).max(1000),
  patches: z.array(z.record(z.string(), z.unknown())).max(1000).optional(),
  /** The egress destinations the step may reach; the runner renders its NetworkPolicy from them. */
  egress: z.array(destinationSchema).max(64).optional(),
});

export type Decision = z.infer<typeof decisionSchema> & { readonly revision: string };
