/**
 * The kubelet's variable expansion of one string, an independent port for tests (k8s.io/kubernetes
 * third_party/forked/golang/expansion, `Expand`/`tryReadVariableName`): `$$` → `$`, `$(NAME)` → the
 * value when NAME is defined, else kept; any other `$` kept. Written by red team 8 apart from the
 * runner's own (src/evaluate/kubelet-view.ts), so the two can be compared.
 */
export function kubeletExpand(input: string, defined: ReadonlyMap<string, string>): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const rest = input.slice(cursor + 1);
    let read: string;
    let advance = 1;
    if (rest[0] === '$') read = '$';
    else if (rest[0] === '(') {
      const close = rest.indexOf(')', 1);
      if (close < 0) read = '$(';
      else {
        const name = rest.slice(1, close);
        read = defined.get(name) ?? `$(${name})`;
        advance = close + 1;
      }
    } else read = `$${rest[0] ?? ''}`;
    out += read;
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}
