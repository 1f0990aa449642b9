// polykms operator console. Vanilla JS, no build step. Everything the server sends is rendered with
// textContent / text nodes; markup is never parsed from data (the CSP enforces Trusted Types, so an HTML sink would throw anyway).
'use strict';

(() => {
  const TOKEN_KEY = 'polykms.adminToken';
  const $ = (id) => document.getElementById(id);
  const view = $('view');

  // ---- DOM helpers --------------------------------------------------------------------------

  /** h('a', {href, onclick}, 'text', child...): attributes as strings, `on*` as listeners, children as text nodes. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'checked' || k === 'value' || k === 'selected' || k === 'disabled') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
  const stateBadge = (s) => h('span', { class: `state state-${s}`, dataset: { state: s } }, s.replace('_', ' '));
  const enc = encodeURIComponent;
  const tenantHref = (t) => `#/tenants/${enc(t)}`;
  const keyHref = (t, k) => `#/tenants/${enc(t)}/keys/${enc(k)}`;

  function flash(message, isError = false) {
    const f = $('flash');
    f.textContent = message;
    f.className = isError ? 'error' : '';
  }

  // ---- API ----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      showLogin();
      throw new ApiError(401, 'not signed in');
    }
    const headers = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit', redirect: 'error' });
    const text = await res.text();
    let data;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin('The admin token was refused. Enter it again.');
      throw new ApiError(401, 'the admin token was refused');
    }
    if (!res.ok) throw new ApiError(res.status, (data && typeof data.message === 'string' && data.message) || `${res.status} ${res.statusText}`);
    return data;
  }

  /** Runs an action from a button or form: disables it while running, reports errors in the flash area. */
  async function act(el, fn) {
    if (el) el.disabled = true;
    try {
      await fn();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) flash(e instanceof Error ? e.message : String(e), true);
    } finally {
      if (el && el.isConnected) el.disabled = false;
    }
  }

  // ---- Sign in ------------------------------------------------------------------------------

  function showLogin(message) {
    $('nav').hidden = true;
    view.hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('token').value = '';
    $('token').focus();
  }

  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('token').value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token').value = '';
    act(ev.submitter, async () => {
      await api('GET', '/admin/tenants'); // checks the token
      $('login').hidden = true;
      $('nav').hidden = false;
      view.hidden = false;
      route();
    });
  });

  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    view.replaceChildren();
    flash('');
    showLogin('Signed out.');
  });

  // ---- Views --------------------------------------------------------------------------------

  const bindingText = (b) => {
    const region = b.attributes && typeof b.attributes.region === 'string' ? ` (${b.attributes.region})` : '';
    const label = { ovh: 'OVH domain', huawei: 'Huawei project', cse: 'CSE instance' }[b.dialect] || b.dialect;
    return `${label} ${b.externalId}${region}`;
  };

  async function tenantsView() {
    const { tenants } = await api('GET', '/admin/tenants');
    const rows = tenants.map((t) =>
      h(
        'tr',
        { dataset: { tenantId: t.id } },
        h('td', {}, h('a', { href: tenantHref(t.id), class: 'tenant-link' }, t.name)),
        h('td', { class: 'mono' }, t.id),
        h('td', {}, t.bindings.length ? t.bindings.map((b) => h('div', { class: 'binding' }, bindingText(b))) : h('span', { class: 'muted' }, 'none')),
        h('td', {}, when(t.createdAt)),
      ),
    );
    const name = h('input', { name: 'name', required: true, maxlength: '256', placeholder: 'acme-prod' });
    const form = h(
      'form',
      {
        class: 'inline',
        onsubmit: (ev) => {
          ev.preventDefault();
          act(ev.submitter, async () => {
            const t = await api('POST', '/admin/tenants', { name: name.value });
            flash(`Tenant ${t.name} created.`);
            navigate(tenantHref(t.id));
          });
        },
      },
      h('label', {}, 'Name', name),
      h('button', { type: 'submit' }, 'Create tenant'),
    );
    return [
      h('h1', {}, 'Tenants'),
      h(
        'section',
        { class: 'card' },
        tenants.length
          ? h('table', { id: 'tenants' }, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Id'), h('th', {}, 'Bound to'), h('th', {}, 'Created'))), h('tbody', {}, rows))
          : h('p', { class: 'muted' }, 'No tenants yet. Creating an OVH domain, a Huawei project or a CSE instance makes one; so does this form.'),
      ),
      h('section', { class: 'card' }, h('h2', {}, 'New tenant'), form),
    ];
  }

  const KEY_TYPES = {
    oct: { label: 'AES (oct)', sizes: [128, 192, 256], ops: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] },
    RSA: { label: 'RSA', sizes: [2048, 3072, 4096], ops: ['sign', 'verify', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] },
    EC: { label: 'EC', curves: ['P-256', 'P-384', 'P-521'], ops: ['sign', 'verify'] },
  };

  function createKeyForm(tenantId, onCreated) {
    const name = h('input', { name: 'name', id: 'key-name', required: true, maxlength: '256' });
    const description = h('input', { name: 'description', id: 'key-description', maxlength: '1024' });
    const type = h('select', { name: 'type', id: 'key-type' }, Object.entries(KEY_TYPES).map(([v, t]) => h('option', { value: v }, t.label)));
    const size = h('select', { name: 'size', id: 'key-size' });
    const sizeLabel = h('label', {}, 'Size (bits)', size);
    const curve = h('select', { name: 'curve', id: 'key-curve' });
    const curveLabel = h('label', {}, 'Curve', curve);
    const ops = h('fieldset', { id: 'key-ops' });
    const sync = () => {
      const t = KEY_TYPES[type.value];
      sizeLabel.hidden = !t.sizes;
      curveLabel.hidden = !t.curves;
      size.replaceChildren(...(t.sizes || []).map((s) => h('option', { value: String(s) }, String(s))));
      if (t.sizes) size.value = String(t.sizes.includes(256) ? 256 : t.sizes[0]);
      curve.replaceChildren(...(t.curves || []).map((c) => h('option', { value: c }, c)));
      ops.replaceChildren(h('legend', {}, 'Operations'), ...t.ops.map((op) => h('label', {}, h('input', { type: 'checkbox', name: 'op', value: op, checked: true }), op)));
    };
    type.addEventListener('change', sync);
    sync();
    return h(
      'form',
      {
        id: 'create-key',
        onsubmit: (ev) => {
          ev.preventDefault();
          act(ev.submitter, async () => {
            const operations = [...ops.querySelectorAll('input[name=op]:checked')].map((i) => i.value);
            if (!operations.length) throw new Error('Choose at least one operation.');
            const body = { type: type.value, name: name.value, operations };
            if (description.value) body.description = description.value;
            if (KEY_TYPES[type.value].curves) body.curve = curve.value;
            else body.size = Number(size.value);
            const k = await api('POST', `/admin/tenants/${enc(tenantId)}/keys`, body);
            flash(`Key ${k.name} created (${k.id}).`);
            name.value = '';
            description.value = '';
            await onCreated(k);
          });
        },
      },
      h('div', { class: 'actions' }, h('label', {}, 'Name', name), h('label', {}, 'Description', description), h('label', {}, 'Type', type), sizeLabel, curveLabel),
      ops,
      h('p', {}, h('button', { type: 'submit' }, 'Create key')),
    );
  }

  const sizeOf = (k) => (k.curve ? k.curve : k.size ? `${k.size} bits` : '—');

  function keyRow(tenantId, k) {
    return h(
      'tr',
      { dataset: { keyId: k.id } },
      h('td', {}, h('a', { href: keyHref(tenantId, k.id), class: 'key-link' }, k.name)),
      h('td', { class: 'mono' }, k.id),
      h('td', {}, stateBadge(k.state)),
      h('td', {}, k.type),
      h('td', {}, sizeOf(k)),
      h('td', {}, k.operations.join(', ')),
      h('td', {}, when(k.createdAt)),
      h('td', {}, when(k.activatedAt)),
      h('td', {}, when(k.deactivatedAt)),
    );
  }

  async function keysSection(tenantId) {
    const tbody = h('tbody');
    const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
    let cursor = null;
    const load = async (reset) => {
      const q = new URLSearchParams({ limit: '50' });
      if (!reset && cursor) q.set('cursor', cursor);
      const page = await api('GET', `/admin/tenants/${enc(tenantId)}/keys?${q}`);
      if (reset) tbody.replaceChildren();
      tbody.append(...page.keys.map((k) => keyRow(tenantId, k)));
      cursor = page.nextCursor;
      more.hidden = !cursor;
    };
    more.addEventListener('click', () => act(more, () => load(false)));
    await load(true);
    const table = h(
      'table',
      { id: 'keys' },
      h('thead', {}, h('tr', {}, ['Name', 'Id', 'State', 'Type', 'Size / curve', 'Operations', 'Created', 'Activated', 'Deactivated'].map((c) => h('th', {}, c)))),
      tbody,
    );
    return [
      h('section', { class: 'card' }, h('h2', {}, 'Keys'), table, more),
      h('section', { class: 'card' }, h('h2', {}, 'Create a key'), createKeyForm(tenantId, () => load(true))),
    ];
  }

  async function credentialsSection(tenant) {
    const parts = [];
    for (const b of tenant.bindings.filter((x) => x.dialect === 'ovh')) {
      const base = `/v2/okms/resource/${enc(b.externalId)}/credential`;
      const creds = await api('GET', base);
      const rows = creds.map((c) => {
        const revoke = h('button', { type: 'button', class: 'danger', disabled: c.status !== 'READY' && c.status !== 'CREATING' }, 'Revoke');
        revoke.addEventListener('click', () =>
          act(revoke, async () => {
            const ok = confirm(`Revoke the access certificate "${c.name}" (${c.id})?\n\nClients using it are refused at once. This cannot be undone; issue a new credential to restore access.`);
            if (!ok) return;
            await api('DELETE', `${base}/${enc(c.id)}`);
            flash(`Credential ${c.name} revoked.`);
            await route();
          }),
        );
        return h(
          'tr',
          { dataset: { credentialId: c.id } },
          h('td', {}, c.name),
          h('td', { class: 'mono' }, c.id),
          h('td', { class: 'cred-status' }, c.status),
          h('td', {}, c.identityURNs.map((u) => h('div', { class: 'mono' }, u))),
          h('td', {}, c.certificateType),
          h('td', {}, when(c.createdAt)),
          h('td', {}, when(c.expiredAt)),
          h('td', {}, revoke),
        );
      });
      parts.push(
        h('h3', {}, `OVH domain ${b.externalId}`),
        rows.length
          ? h(
              'table',
              { class: 'credentials', dataset: { okmsId: b.externalId } },
              h('thead', {}, h('tr', {}, ['Name', 'Id', 'Status', 'Identities', 'Type', 'Created', 'Expires', ''].map((c) => h('th', {}, c)))),
              h('tbody', {}, rows),
            )
          : h('p', { class: 'muted' }, 'No access certificates.'),
      );
    }
    const { credentials } = await api('GET', `/admin/tenants/${enc(tenant.id)}/credentials`);
    const others = credentials.filter((c) => c.dialect !== 'ovh');
    if (others.length) {
      parts.push(
        h('h3', {}, 'Other dialects'),
        h(
          'table',
          {},
          h('thead', {}, h('tr', {}, ['Dialect', 'Name', 'Id', 'Status', 'Identities', 'Expires'].map((c) => h('th', {}, c)))),
          h('tbody', {}, others.map((c) => h('tr', {}, h('td', {}, c.dialect), h('td', {}, c.name), h('td', { class: 'mono' }, c.id), h('td', {}, c.status), h('td', {}, c.identities.join(', ')), h('td', {}, when(c.expiresAt))))),
        ),
      );
    }
    if (!parts.length) parts.push(h('p', { class: 'muted' }, 'No credentials for this tenant.'));
    return h('section', { class: 'card', id: 'credentials' }, h('h2', {}, 'Credentials'), parts);
  }

  async function tenantView(tenantId) {
    const tenant = await api('GET', `/admin/tenants/${enc(tenantId)}`);
    const [keys, creds] = await Promise.all([keysSection(tenant.id), credentialsSection(tenant)]);
    return [
      h('p', {}, h('a', { href: '#/' }, '← Tenants')),
      h('h1', { id: 'tenant-name' }, `Tenant ${tenant.name}`),
      h(
        'section',
        { class: 'card' },
        h('dl', { class: 'props' }, h('dt', {}, 'Id'), h('dd', { class: 'mono' }, tenant.id), h('dt', {}, 'Bound to'), h('dd', {}, tenant.bindings.length ? tenant.bindings.map((b) => h('div', {}, bindingText(b))) : 'nothing')),
        h('p', {}, h('a', { href: `#/audit?tenant=${enc(tenant.id)}` }, 'Audit events of this tenant')),
      ),
      keys,
      creds,
    ];
  }

  const DEACTIVATION_REASONS = ['unspecified', 'key_compromise', 'ca_compromise', 'affiliation_changed', 'superseded', 'cessation_of_operation', 'privilege_withdrawn'];
  const DELETABLE = ['deactivated', 'compromised', 'pending_deletion'];

  async function keyView(tenantId, keyId) {
    const base = `/admin/tenants/${enc(tenantId)}/keys/${enc(keyId)}`;
    const k = await api('GET', base);
    const reload = () => route();
    const prop = (label, value, cls) => [h('dt', {}, label), h('dd', { class: cls, dataset: { prop: label.toLowerCase().replace(/\W+/g, '-') } }, value)];
    const props = h(
      'dl',
      { class: 'props', id: 'key-props' },
      prop('Id', k.id, 'mono'),
      prop('Name', k.name),
      prop('Description', k.description || '—'),
      prop('State', stateBadge(k.state)),
      prop('Type', k.type),
      prop('Size / curve', sizeOf(k)),
      prop('Operations', k.operations.join(', ')),
      prop('Origin', k.origin),
      prop('Version', String(k.currentVersion)),
      prop('Created', when(k.createdAt)),
      prop('Updated', when(k.updatedAt)),
      prop('Activated', when(k.activatedAt)),
      prop('Deactivated', k.deactivatedAt ? `${when(k.deactivatedAt)} (${k.deactivationReason || 'unspecified'})` : '—'),
      k.compromisedAt ? prop('Compromised', when(k.compromisedAt)) : null,
      k.deletionDueAt ? prop('Deletion due', when(k.deletionDueAt)) : null,
      k.destroyedAt ? prop('Destroyed', when(k.destroyedAt)) : null,
    );

    const sections = [];
    if (k.state === 'destroyed') {
      sections.push(h('section', { class: 'card' }, h('p', { class: 'warning' }, 'This key is destroyed: its material is erased and data encrypted with it cannot be decrypted. Its metadata is kept for the audit trail.')));
    } else {
      const newName = h('input', { name: 'name', id: 'rename-name', value: k.name, required: true, maxlength: '256' });
      const newDescription = h('input', { name: 'description', id: 'rename-description', value: k.description, maxlength: '1024' });
      sections.push(
        h(
          'section',
          { class: 'card' },
          h('h2', {}, 'Rename'),
          h(
            'form',
            {
              class: 'inline',
              id: 'rename',
              onsubmit: (ev) => {
                ev.preventDefault();
                act(ev.submitter, async () => {
                  await api('PATCH', base, { name: newName.value, description: newDescription.value });
                  flash('Key updated.');
                  await reload();
                });
              },
            },
            h('label', {}, 'Name', newName),
            h('label', {}, 'Description', newDescription),
            h('button', { type: 'submit' }, 'Save'),
          ),
        ),
      );

      const state = [h('h2', {}, 'State')];
      if (k.state === 'active' || k.state === 'pre_active') {
        const reason = h('select', { name: 'reason', id: 'deactivate-reason' }, DEACTIVATION_REASONS.map((r) => h('option', { value: r }, r.replace(/_/g, ' '))));
        state.push(
          h('p', {}, 'A deactivated key no longer encrypts or signs; it still decrypts and verifies existing data, and it can be activated again.'),
          h(
            'form',
            {
              class: 'inline',
              id: 'deactivate',
              onsubmit: (ev) => {
                ev.preventDefault();
                act(ev.submitter, async () => {
                  await api('POST', `${base}/deactivate`, { reason: reason.value });
                  flash('Key deactivated.');
                  await reload();
                });
              },
            },
            h('label', {}, 'Reason', reason),
            h('button', { type: 'submit' }, 'Deactivate'),
          ),
        );
      } else if (k.state === 'deactivated' || k.state === 'compromised') {
        const activate = h('button', { type: 'button', class: 'secondary', id: 'activate' }, 'Activate again');
        activate.addEventListener('click', () =>
          act(activate, async () => {
            await api('POST', `${base}/activate`);
            flash('Key activated.');
            await reload();
          }),
        );
        state.push(h('p', {}, activate));
      } else if (k.state === 'pending_deletion') {
        const cancel = h('button', { type: 'button', class: 'secondary', id: 'cancel-deletion' }, 'Cancel the scheduled deletion');
        cancel.addEventListener('click', () =>
          act(cancel, async () => {
            await api('POST', `${base}/cancel-deletion`);
            flash('Deletion cancelled; the key is deactivated.');
            await reload();
          }),
        );
        state.push(h('p', {}, cancel));
      }

      const canDelete = DELETABLE.includes(k.state);
      const del = h('button', { type: 'button', class: 'danger', id: 'delete', disabled: !canDelete }, 'Delete key');
      del.addEventListener('click', () =>
        act(del, async () => {
          const ok = confirm(
            `Delete key "${k.name}" (${k.id})?\n\n` +
              'The key material is destroyed now. Data encrypted with this key becomes unrecoverable: it can never be decrypted again, by anyone. This cannot be undone.',
          );
          if (!ok) return;
          await api('DELETE', base);
          flash(`Key ${k.name} deleted: its material is destroyed.`);
          await reload();
        }),
      );
      state.push(
        h('h2', {}, 'Delete'),
        h('p', { class: 'warning' }, 'Deleting destroys the key material at once. Data encrypted with this key becomes unrecoverable.'),
        canDelete ? null : h('p', { class: 'muted', id: 'delete-hint' }, 'Only a deactivated key can be deleted: deactivate it first.'),
        h('p', {}, del),
      );
      sections.push(h('section', { class: 'card' }, state));
    }

    const events = await api('GET', `/admin/audit?key=${enc(k.id)}&limit=20`);
    sections.push(h('section', { class: 'card' }, h('h2', {}, 'Recent events of this key'), auditTable(events.events, false)));

    return [h('p', {}, h('a', { href: tenantHref(tenantId) }, '← Keys of the tenant')), h('h1', {}, `Key ${k.name}`), h('section', { class: 'card' }, props), sections];
  }

  function auditTable(events, withTenant = true) {
    if (!events.length) return h('p', { class: 'muted' }, 'No events.');
    return h(
      'table',
      { class: 'audit' },
      h('thead', {}, h('tr', {}, ['Time', withTenant ? 'Tenant' : null, 'Dialect', 'Principal', 'Action', 'Key', 'Outcome', 'Details', 'Request'].filter(Boolean).map((c) => h('th', {}, c)))),
      h('tbody', {}, events.map((e) => auditRow(e, withTenant))),
    );
  }

  function auditRow(e, withTenant = true) {
    return h(
      'tr',
      { dataset: { action: e.action } },
      h('td', {}, when(e.at)),
      withTenant ? h('td', { class: 'mono' }, e.tenantId || '—') : null,
      h('td', {}, e.dialect),
      h('td', {}, e.principal),
      h('td', {}, e.action),
      h('td', { class: 'mono' }, e.keyId && e.tenantId ? h('a', { href: keyHref(e.tenantId, e.keyId) }, e.keyId) : e.keyId || '—'),
      h('td', { class: e.outcome === 'allowed' ? '' : 'error' }, e.errorKind ? `${e.outcome} (${e.errorKind})` : e.outcome),
      h('td', { class: 'mono' }, e.details ? Object.entries(e.details).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : ''),
      h('td', { class: 'mono' }, e.requestId || ''),
    );
  }

  async function auditView(params) {
    const tenant = params.get('tenant');
    const q = new URLSearchParams({ limit: '50' });
    if (tenant) q.set('tenant', tenant);
    const page = await api('GET', `/admin/audit?${q}`);
    const table = auditTable(page.events);
    const more = h('button', { type: 'button', class: 'secondary', hidden: !page.nextBefore }, 'Older events');
    let before = page.nextBefore;
    more.addEventListener('click', () =>
      act(more, async () => {
        q.set('before', before);
        const next = await api('GET', `/admin/audit?${q}`);
        table.querySelector('tbody')?.append(...next.events.map((e) => auditRow(e)));
        before = next.nextBefore;
        more.hidden = !before;
      }),
    );
    return [h('h1', {}, tenant ? `Audit events of tenant ${tenant}` : 'Recent audit events'), h('section', { class: 'card', id: 'audit' }, table, more)];
  }

  // ---- Routing ------------------------------------------------------------------------------

  let generation = 0;
  async function route() {
    if (!sessionStorage.getItem(TOKEN_KEY)) return showLogin();
    const mine = ++generation;
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path, query] = hash.split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    let render;
    if (parts.length === 0) render = () => tenantsView();
    else if (parts[0] === 'audit' && parts.length === 1) render = () => auditView(new URLSearchParams(query || ''));
    else if (parts[0] === 'tenants' && parts.length === 2) render = () => tenantView(parts[1]);
    else if (parts[0] === 'tenants' && parts[2] === 'keys' && parts.length === 4) render = () => keyView(parts[1], parts[3]);
    else render = async () => [h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Tenants'))];
    view.setAttribute('aria-busy', 'true');
    try {
      const content = await render();
      if (mine !== generation) return; // a later navigation won
      view.replaceChildren(...[content].flat(Infinity).filter(Boolean));
    } catch (e) {
      if (mine !== generation || (e instanceof ApiError && e.status === 401)) return;
      view.replaceChildren(h('h1', {}, 'Could not load this page'), h('p', { class: 'error' }, e instanceof Error ? e.message : String(e)));
    } finally {
      if (mine === generation) view.setAttribute('aria-busy', 'false');
    }
  }

  // A message set just before navigating (e.g. "tenant created") survives that one navigation.
  let keepFlash = false;
  const navigate = (hash) => {
    keepFlash = true;
    location.hash = hash;
  };
  window.addEventListener('hashchange', () => {
    if (!keepFlash) flash('');
    keepFlash = false;
    route();
  });

  if (sessionStorage.getItem(TOKEN_KEY)) {
    $('nav').hidden = false;
    route();
  } else showLogin();
})();
