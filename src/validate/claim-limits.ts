/**
 * The deepest nesting of objects and arrays in an assignment's claims: 256 levels, counted as an
 * audit record's (src/audit/limits.ts MAX_RECORD_DEPTH, the same number; test/unit/claim-depth.test.ts
 * keeps them equal): the claims set (the token's payload) is level 1, a claim that is an object or
 * array (`workflow`) level 2. The workflow schema needs about 10. Deeper is VALIDATE_SCHEMA
 * (src/validate/depth.ts; red team 18, finding 6).
 */
export const MAX_CLAIM_DEPTH = 256;

/** The words of a refusal at the first container past MAX_CLAIM_DEPTH. */
export const TOO_DEEP = `nested more than ${MAX_CLAIM_DEPTH} levels deep (objects and arrays; the token's claims set is level 1): a signed claim nests at most that deep`;
