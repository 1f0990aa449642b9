/**
 * Standard base64 with padding (RFC 4648 §4): whole 4-character groups of A-Z a-z 0-9 + /, the last one
 * padded with = to its length, as /^[A-Za-z0-9+/]*={0,2}$/ with a length that is a multiple of 4 says.
 * Returns the bytes, or undefined when `s` is not that. Trailing bits that are not zero are accepted,
 * as Java and Go decoders accept them. Node's decoder (native) does the work: it skips what is not
 * base64 and stops at padding, so any such character leaves fewer bytes than the length promises; it
 * also reads the URL-safe alphabet, which is refused first. (A regular expression costs more: see
 * bench/RESULTS.md, "instructions a request".)
 */
export function fromStdBase64(s: string): Buffer | undefined {
  if (s.length % 4 !== 0 || s.includes('-') || s.includes('_')) return undefined;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const bytes = Buffer.from(s, 'base64');
  return bytes.length === (s.length / 4) * 3 - pad ? bytes : undefined;
}
