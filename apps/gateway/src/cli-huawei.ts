import { UsageError } from './usage.ts';

type Values = Record<string, string | string[] | boolean | undefined>;
type AdminCall = (method: string, path: string, body?: unknown) => Promise<any>;

/** Options `polykms huawei ...` needs (merged into the CLI's parseArgs options). */
export const HUAWEI_OPTIONS = {
  domain: { type: 'string' },
  name: { type: 'string' },
  password: { type: 'string' },
  project: { type: 'string', multiple: true },
  'add-project': { type: 'string', multiple: true },
  'remove-project': { type: 'string', multiple: true },
  'replace-projects': { type: 'boolean' },
  id: { type: 'string' },
  user: { type: 'string' },
  access: { type: 'string' },
  description: { type: 'string' },
  enabled: { type: 'string' },
} as const;

export const HUAWEI_HELP = `  huawei user create    --domain D --name N --password PW --project ID:ROLE[,ROLE] [--project ...]
                        (roles: "KMS Administrator", "KMS CMKFullAccess", "KMS CMKReadOnlyAccess", ...)
  huawei user list      [--domain D]
  huawei user get       --id USER_ID
  huawei user update    --id USER_ID [--password PW] [--add-project ID:ROLE[,ROLE] ...] [--remove-project ID ...] [--enabled true|false]
                        (--add-project on a project the user has sets its roles; --replace-projects --project ... replaces the whole list)
  huawei user delete    --id USER_ID
  huawei user revoke-tokens --id USER_ID   (ends every IAM token of the user; a new password or a disable does too)
  huawei access-key create --user USER_ID [--description TEXT]   (prints AK and SK; the SK is shown once)
  huawei access-key list   --user USER_ID
  huawei access-key delete --user USER_ID --access AK
  huawei project list
  huawei project create --id PROJECT_ID
  huawei role list`;

/** `--project ID:ROLE[,ROLE]` -> {id, roles}; a role name may contain spaces, not commas. */
export function parseProjects(v: Values, option = 'project'): { id: string; roles: string[] }[] {
  const given = v[option];
  const raw = given === undefined ? [] : Array.isArray(given) ? given : [String(given)];
  return raw.map((p) => {
    const i = p.indexOf(':');
    const id = i < 0 ? '' : p.slice(0, i).trim();
    const roles =
      i < 0
        ? []
        : p
            .slice(i + 1)
            .split(',')
            .map((r) => r.trim())
            .filter(Boolean);
    if (!id || !roles.length) throw new UsageError(`--${option} must be PROJECT_ID:ROLE[,ROLE]; got '${p}'`);
    return { id, roles };
  });
}

/** `polykms huawei ...` */
export async function huaweiCommand(key: string, v: Values, api: AdminCall, out: (human: string, data: unknown) => void): Promise<number> {
  const need = (name: string) => {
    const x = v[name];
    if (typeof x !== 'string' || !x) throw new UsageError(`${key} needs --${name}`);
    return x;
  };
  const enc = encodeURIComponent;
  const userLine = (u: {
    id: string;
    name: string;
    domain: { name: string };
    enabled: boolean;
    projects: { id: string; roles: string[] }[];
  }) =>
    `${u.id}  ${u.domain.name}/${u.name}${u.enabled ? '' : ' (disabled)'}  ${u.projects.map((p) => `${p.id}:${p.roles.join(',')}`).join(' ')}`;
  switch (key) {
    case 'huawei user create': {
      const projects = parseProjects(v);
      if (!projects.length) throw new UsageError('huawei user create needs at least one --project ID:ROLE');
      const u = await api('POST', '/admin/huawei/users', {
        domain: need('domain'),
        name: need('name'),
        password: need('password'),
        projects,
      });
      out(`user ${u.id} (${u.domain.name}/${u.name}) created`, u);
      return 0;
    }
    case 'huawei user list': {
      const us = await api('GET', `/admin/huawei/users${typeof v.domain === 'string' ? `?domain=${enc(v.domain)}` : ''}`);
      out(us.map(userLine).join('\n') || '(no users)', us);
      return 0;
    }
    case 'huawei user get': {
      const u = await api('GET', `/admin/huawei/users/${enc(need('id'))}`);
      out(userLine(u), u);
      return 0;
    }
    case 'huawei user update': {
      const body: Record<string, unknown> = {};
      if (typeof v.password === 'string') body.password = v.password;
      if (v.project !== undefined) {
        if (!v['replace-projects'])
          throw new UsageError(
            '--project would replace every project of the user: use --add-project ID:ROLE[,ROLE] / --remove-project ID, or add --replace-projects',
          );
        body.projects = parseProjects(v);
      } else if (v['replace-projects']) throw new UsageError('--replace-projects needs the new list as --project ID:ROLE[,ROLE] ...');
      const add = parseProjects(v, 'add-project');
      const remove = v['remove-project'] === undefined ? [] : (v['remove-project'] as string[]);
      if (remove.some((p) => !p)) throw new UsageError('--remove-project needs a project id');
      if ((add.length || remove.length) && body.projects)
        throw new UsageError('--replace-projects --project ... and --add-project/--remove-project do not mix');
      if (v.enabled !== undefined) {
        if (v.enabled !== 'true' && v.enabled !== 'false') throw new UsageError('--enabled is true or false');
        body.enabled = v.enabled === 'true';
      }
      if (!Object.keys(body).length && !add.length && !remove.length)
        throw new UsageError('huawei user update needs --password, --add-project, --remove-project or --enabled');
      if (add.length || remove.length) {
        // The admin API takes the whole list: start from the user's, so other projects stay as they are.
        const current = (await api('GET', `/admin/huawei/users/${enc(need('id'))}`)).projects as {
          id: string;
          roles: string[];
        }[];
        const missing = remove.filter((id) => !current.some((p) => p.id === id));
        if (missing.length) throw new UsageError(`the user has no project ${missing.join(', ')}`);
        const next = current.filter((p) => !remove.includes(p.id) && !add.some((a) => a.id === p.id));
        body.projects = [...next.map((p) => ({ id: p.id, roles: p.roles })), ...add];
      }
      const u = await api('PATCH', `/admin/huawei/users/${enc(need('id'))}`, body);
      out(`user ${u.id} updated`, u);
      return 0;
    }
    case 'huawei user delete': {
      await api('DELETE', `/admin/huawei/users/${enc(need('id'))}`);
      out(`user ${v.id} deleted`, { id: v.id, deleted: true });
      return 0;
    }
    case 'huawei user revoke-tokens': {
      await api('POST', `/admin/huawei/users/${enc(need('id'))}/revoke-tokens`);
      out(`every token of user ${v.id} revoked`, { id: v.id, revoked: true });
      return 0;
    }
    case 'huawei access-key create': {
      const k = await api(
        'POST',
        `/admin/huawei/users/${enc(need('user'))}/access-keys`,
        typeof v.description === 'string' ? { description: v.description } : {},
      );
      out(`AK ${k.access}\nSK ${k.secret}\n(the SK is shown only now)`, k);
      return 0;
    }
    case 'huawei access-key list': {
      const ks = await api('GET', `/admin/huawei/users/${enc(need('user'))}/access-keys`);
      out(
        ks.map((k: { access: string; status: string; created_at: string }) => `${k.access}  ${k.status}  ${k.created_at}`).join('\n') ||
          '(no access keys)',
        ks,
      );
      return 0;
    }
    case 'huawei access-key delete': {
      await api('DELETE', `/admin/huawei/users/${enc(need('user'))}/access-keys/${enc(need('access'))}`);
      out(`access key ${v.access} deleted`, { access: v.access, deleted: true });
      return 0;
    }
    case 'huawei project list': {
      const ps = await api('GET', '/admin/huawei/projects');
      out(ps.map((p: { id: string; tenant_id: string }) => `${p.id}  tenant ${p.tenant_id}`).join('\n') || '(no projects)', ps);
      return 0;
    }
    case 'huawei project create': {
      const p = await api('POST', '/admin/huawei/projects', { id: need('id') });
      out(`project ${p.id} -> tenant ${p.tenant_id}`, p);
      return 0;
    }
    case 'huawei role list': {
      const rs = await api('GET', '/admin/huawei/roles');
      out(rs.map((r: { name: string; actions: string[] }) => `${r.name}: ${r.actions.join(', ')}`).join('\n'), rs);
      return 0;
    }
    default:
      throw new UsageError(`unknown command '${key}'`);
  }
}
