import { KmsError } from '@polykms/core';

const DAY_MS = 86_400_000;
/**
 * notBefore is set this far in the past so a certificate is usable at once by a peer whose clock is a
 * little behind ours; notAfter is still exactly the asked number of days after issuance.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;

export function checkValidityDays(days: unknown, max: number, what: string): number {
  if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > max) {
    throw new KmsError(
      'invalid_argument',
      `${what} validity must be a whole number of days from 1 to ${max}; got ${String(days)}`,
      'validity',
    );
  }
  return days;
}

export interface ValidityWindow {
  notBefore: Date;
  notAfter: Date;
}

/** Whole seconds, because that is all UTCTime keeps; computing on them makes notAfter - issuance exact. */
export function validityWindow(days: number, now = new Date()): ValidityWindow {
  const issuedAt = Math.floor(now.getTime() / 1000) * 1000;
  return { notBefore: new Date(issuedAt - CLOCK_SKEW_MS), notAfter: new Date(issuedAt + days * DAY_MS) };
}
