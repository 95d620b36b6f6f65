/**
 * `parts` as one flat string. A template literal or `+` of longer parts makes a rope
 * (V8 ConsString: 32 bytes per join, and a Map keeps it that way); keys and labels a
 * session keeps for its whole life are made with this instead: one sequential string.
 */
export function flat(...parts: Array<string | number>): string {
  return parts.join('');
}
