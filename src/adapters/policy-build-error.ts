import type { ErrorCode } from '../errors/codes.ts';

/** A build failure with its catalogue code (POLICY_BUILD_FAILED, or POLICY_SETTINGS_INVALID). */
export class PolicyBuildError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
