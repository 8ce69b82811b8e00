import { z } from 'zod';

/** The decision document every policy entrypoint must return (DESIGN §3), checked on the way out. */
export const violationSchema = z.strictObject({
  code: z.string().min(1).max(128),
  message: z.string().max(2048),
  path: z.string().max(512),
  policy: z.string().min(1).max(128),
  action: z.enum(['deny', 'warn', 'audit']),
});

export const decisionSchema = z.strictObject({
  allow: z.boolean(),
  violations: z.array(violationSchema).max(1000),
  patches: z.array(z.record(z.string(), z.unknown())).max(1000).optional(),
});

export type Violation = z.infer<typeof violationSchema>;
export type Decision = z.infer<typeof decisionSchema> & { readonly revision: string };
