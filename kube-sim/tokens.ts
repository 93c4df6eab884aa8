import { MASTERS, type UserInfo } from './authorizer.js';

/**
 * Who a bearer token is. `--token` tokens are administrators (user token-N in system:masters, as
 * before RBAC existed here). `--token-auth-file` takes kube-apiserver's static token file: one line
 * per token, `token,user,uid,"group1,group2"`, # comments allowed. A user named
 * system:serviceaccount:NS:NAME also gets the groups the API server gives ServiceAccounts.
 */
export class TokenError extends Error {
  readonly code = 'KUBE_SIM_TOKEN_FILE';
}

function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw new TokenError('an unterminated quote');
  out.push(cur);
  return out.map((f) => f.trim());
}

function withImplicitGroups(name: string, groups: string[]): UserInfo {
  const all = [...groups];
  const sa = /^system:serviceaccount:([^:]+):[^:]+$/.exec(name);
  if (sa !== null) all.push('system:serviceaccounts', `system:serviceaccounts:${sa[1] as string}`);
  all.push('system:authenticated');
  return { name, groups: all };
}

export function parseTokenFile(text: string, file = 'token file'): Map<string, UserInfo> {
  const users = new Map<string, UserInfo>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    let fields: string[];
    try {
      fields = splitCsvLine(line);
    } catch (err) {
      throw new TokenError(`${file} line ${i + 1}: ${(err as Error).message}`);
    }
    const [token = '', name = ''] = fields;
    if (token === '' || name === '' || fields.length < 3)
      throw new TokenError(`${file} line ${i + 1}: want token,user,uid[,"group1,group2"]`);
    if (users.has(token)) throw new TokenError(`${file} line ${i + 1}: a token listed twice`);
    const groups = (fields[3] ?? '')
      .split(',')
      .map((g) => g.trim())
      .filter((g) => g !== '');
    users.set(token, withImplicitGroups(name, groups));
  });
  return users;
}

export function adminUsers(tokens: string[]): Map<string, UserInfo> {
  return new Map(tokens.map((t, i) => [t, withImplicitGroups(`token-${i}`, [MASTERS])]));
}
