const swapCase = (c: string): string => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase());
const isLetter = (c: string): boolean => /^[A-Za-z]$/.test(c);

/**
 * A pattern's source as JavaScript should compile it: every `(?i:...)` group spelled out as
 * explicit case classes (`(?i:ab[c-e])` → `(?:[aA][bB][c-eC-E])`). V8 (Node 24) mis-handles
 * case-insensitive modifier groups holding an alternation whose branches share a first letter
 * (`(?i:(signing|session)_?key)` does not match "SIGNING_KEY"), so the masker would miss what
 * RE2 (the policy) denies. ASCII letters only (the patterns' alphabet); everything else unchanged.
 */
export function jsSource(pattern: string): string {
  let out = '';
  const groups: boolean[] = []; // per open group: case-insensitive?
  let i = 0;
  const ci = (): boolean => groups.includes(true);
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      out += pattern.slice(i, i + 2);
      i += 2;
    } else if (c === '[') {
      const cls = characterClass(pattern, i, ci());
      out += cls.text;
      i = cls.end;
    } else if (c === '(') {
      const insensitive = pattern.startsWith('(?i:', i);
      groups.push(insensitive);
      out += insensitive ? '(?:' : c;
      i += insensitive ? 4 : 1;
    } else if (c === ')') {
      groups.pop();
      out += c;
      i++;
    } else {
      out += ci() && isLetter(c) ? `[${c}${swapCase(c)}]` : c;
      i++;
    }
  }
  return out;
}

/** The class starting at `i` (`[`), with the other case of its letters and letter ranges added when `ci`. */
function characterClass(pattern: string, i: number, ci: boolean): { readonly text: string; readonly end: number } {
  let j = i + 1;
  let body = '';
  if (pattern[j] === '^') j++;
  const head = pattern.slice(i, j);
  if (pattern[j] === ']') body += pattern[j++];
  while (j < pattern.length && pattern[j] !== ']') {
    const step = pattern[j] === '\\' ? 2 : 1;
    body += pattern.slice(j, j + step);
    j += step;
  }
  return { text: `${head}${body}${ci ? otherCase(body) : ''}]`, end: j + 1 };
}

/** The other case of a class body's letters and letter ranges (`c-e` → `C-E`); escapes are skipped. */
function otherCase(body: string): string {
  let extra = '';
  for (let k = 0; k < body.length; k++) {
    if (body[k] === '\\') {
      k++;
      continue;
    }
    if (body[k + 1] === '-' && k + 2 < body.length && isLetter(body[k]!) && isLetter(body[k + 2]!)) {
      extra += `${swapCase(body[k]!)}-${swapCase(body[k + 2]!)}`;
      k += 2;
    } else if (isLetter(body[k]!)) extra += swapCase(body[k]!);
  }
  return extra;
}
