/**
 * Standard base64 with padding (RFC 4648 §4), as `s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/`
 * defines it: the bytes, or undefined. Node's native decoder does the work, cheaper than the regex
 * (bench/RESULTS.md). It reads any character by its low byte and the URL-safe letters too, so those
 * are refused first; past that it skips or stops at what is not base64, which leaves fewer bytes than
 * the length promises. Trailing bits that are not zero are accepted, as Java and Go accept them.
 */
export function fromStdBase64(s: string): Buffer | undefined {
  const ascii = Buffer.byteLength(s, 'utf8') === s.length;
  if (!ascii || s.length % 4 !== 0 || s.includes('-') || s.includes('_')) return undefined;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const bytes = Buffer.from(s, 'base64');
  return bytes.length === (s.length / 4) * 3 - pad ? bytes : undefined;
}
