// polykms operator console. Vanilla JS, no build step. Everything the server sends is rendered with
// textContent / text nodes; markup is never parsed from data (the CSP enforces Trusted Types, so an HTML sink would throw anyway).
// Every URL is relative to the page's origin, so the console works the same over http and https.

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
      else if (k === 'checked' || k === 'value' || k === 'selected' || k === 'disabled' || k === 'hidden') el[k] = v;
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
  /** A long id as its first 8 characters; the whole id is in the tooltip and copied on click. */
  const shortId = (id) =>
    id
      ? h(
          'span',
          {
            class: 'id',
            title: `${id} (click to copy)`,
            dataset: { id },
            onclick: (ev) => {
              ev.preventDefault();
              navigator.clipboard?.writeText(id).then(
                () => flash(`Copied ${id}`),
                () => undefined,
              );
            },
          },
          id.length > 12 ? `${id.slice(0, 8)}…` : id,
        )
      : '—';

  /**
   * A table that becomes a list of label/value blocks in a narrow window (see app.css): each cell
   * carries its column's name. `columns` are names; each row is {cells, attrs}.
   */
  function table(attrs, columns, rows) {
    return h(
      'table',
      { ...attrs, class: `rt ${attrs.class || ''}`.trim() },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          columns.map((c) => h('th', {}, c)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((r) => row(columns, r)),
      ),
    );
  }
  const row = (columns, r) =>
    h(
      'tr',
      r.attrs || {},
      r.cells.map((c, i) => {
        const cell = c instanceof Node && c.tagName === 'TD' ? c : h('td', {}, c);
        cell.dataset.label = columns[i];
        // One box per cell, so the narrow layout's label column sits beside all of it.
        cell.replaceChildren(h('div', { class: 'cell' }, ...cell.childNodes));
        return cell;
      }),
    );
  const td = (props, ...children) => h('td', props, ...children);

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
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
    });
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
    if (!res.ok)
      throw new ApiError(res.status, (data && typeof data.message === 'string' && data.message) || `${res.status} ${res.statusText}`);
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

  // ---- Shared data --------------------------------------------------------------------------

  const DIALECT_LABEL = { ovh: 'OVH', huawei: 'Huawei', cse: 'Google CSE', admin: 'Console / API only' };
  const bindingText = (b) => {
    const region = b.attributes && typeof b.attributes.region === 'string' ? ` (${b.attributes.region})` : '';
    const label = { ovh: 'OVH domain', huawei: 'Huawei project', cse: 'CSE instance' }[b.dialect] || b.dialect;
    return `${label} ${b.externalId}${region}`;
  };
  /** Tenant names for the ids in audit events; one read per page shown. */
  async function tenantNames() {
    const { tenants } = await api('GET', '/admin/tenants');
    return { tenants, name: (id) => tenants.find((t) => t.id === id)?.name };
  }

  // ---- Charts (DOM and canvas; no inline style, so sizes are set through the CSSOM) ----------

  const STATES = ['active', 'pre_active', 'deactivated', 'pending_deletion', 'compromised', 'destroyed'];

  /** Horizontal bars: one row per label, widths relative to the largest value. */
  function bars(id, entries) {
    const max = Math.max(1, ...entries.map(([, n]) => n));
    if (!entries.length) return h('p', { class: 'muted' }, 'No keys yet.');
    return h(
      'div',
      { class: 'bars', id },
      entries.map(([label, n, cls]) => {
        const fill = h('span', { class: `fill ${cls || ''}` });
        fill.style.width = `${(100 * n) / max}%`;
        return h(
          'div',
          { class: 'bar', dataset: { label } },
          h('span', { class: 'bar-label' }, label),
          h('span', { class: 'bar-track' }, fill),
          h('span', { class: 'bar-value' }, String(n)),
        );
      }),
    );
  }

  /** Requests per minute as columns, errors over them in red; drawn at the canvas's own width. */
  function sparkline(requests, errors) {
    const canvas = h('canvas', {
      class: 'spark',
      height: '48',
      'aria-label': `${requests.reduce((a, b) => a + b, 0)} requests in the last hour`,
    });
    const draw = () => {
      const ratio = window.devicePixelRatio || 1;
      const w = Math.max(60, canvas.clientWidth);
      const hgt = canvas.clientHeight || 48;
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(hgt * ratio);
      const ctx = canvas.getContext('2d');
      if (!ctx) return;
      ctx.scale(ratio, ratio);
      const max = Math.max(1, ...requests);
      const step = w / requests.length;
      const styles = getComputedStyle(canvas);
      requests.forEach((n, i) => {
        const bh = (n / max) * (hgt - 2);
        ctx.fillStyle = styles.getPropertyValue('--spark-ok').trim() || '#0050d7';
        ctx.fillRect(i * step, hgt - bh, Math.max(1, step - 1), bh);
        const eh = (errors[i] / max) * (hgt - 2);
        ctx.fillStyle = styles.getPropertyValue('--spark-err').trim() || '#b3261e';
        ctx.fillRect(i * step, hgt - eh, Math.max(1, step - 1), eh);
      });
    };
    requestAnimationFrame(draw);
    return canvas;
  }

  // ---- Views: dashboard ---------------------------------------------------------------------

  async function dashboardView() {
    const [d, recent, names] = await Promise.all([
      api('GET', '/admin/dashboard'),
      api('GET', '/admin/audit?limit=8&hideConsoleReads=true'),
      tenantNames(),
    ]);
    const states = STATES.filter((s) => d.keys.byState[s]).map((s) => [s.replace('_', ' '), d.keys.byState[s], `st-${s}`]);
    const types = Object.entries(d.keys.byType).map(([t, n]) => [t === 'oct' ? 'AES (oct)' : t, n]);
    const dialects = Object.entries(d.keys.byDialect).map(([dl, byState]) => {
      const total = Object.values(byState).reduce((a, b) => a + b, 0);
      const active = byState.active || 0;
      return [`${DIALECT_LABEL[dl] || dl}`, total, '', `${active} active`];
    });
    let traffic;
    if (!d.traffic) traffic = h('p', { class: 'muted' }, 'Metrics are off in this gateway, so there is no traffic to show.');
    else {
      const entries = Object.entries(d.traffic.dialects);
      traffic = entries.length
        ? entries.map(([dl, s]) => {
            const total = s.requests.reduce((a, b) => a + b, 0);
            const errs = s.errors.reduce((a, b) => a + b, 0);
            return h(
              'div',
              { class: 'traffic', dataset: { dialect: dl } },
              h(
                'div',
                { class: 'traffic-head' },
                h('strong', {}, DIALECT_LABEL[dl] || dl),
                h('span', { class: 'traffic-total' }, `${total} requests`),
                h('span', { class: errs ? 'error traffic-errors' : 'muted traffic-errors' }, `${errs} errors`),
              ),
              sparkline(s.requests, s.errors),
            );
          })
        : h('p', { class: 'muted' }, 'No requests to the dialects in the last hour.');
    }
    return [
      h('h1', {}, 'Overview'),
      h(
        'div',
        { class: 'grid', id: 'dashboard' },
        h(
          'section',
          { class: 'card stat' },
          h('h2', {}, 'Keys'),
          h('p', { class: 'big', id: 'keys-total' }, String(d.keys.total)),
          h(
            'p',
            { class: 'muted' },
            `in ${d.tenants} tenant${d.tenants === 1 ? '' : 's'} · `,
            h('a', { href: '#/tenants' }, 'Browse tenants'),
          ),
        ),
        h('section', { class: 'card' }, h('h2', {}, 'Keys by state'), bars('by-state', states)),
        h(
          'section',
          { class: 'card' },
          h('h2', {}, 'Keys by dialect'),
          bars(
            'by-dialect',
            dialects.map(([l, n]) => [l, n]),
          ),
        ),
        h('section', { class: 'card' }, h('h2', {}, 'Keys by type'), bars('by-type', types)),
      ),
      h(
        'section',
        { class: 'card', id: 'traffic' },
        h('h2', {}, 'Requests and errors, last hour'),
        h(
          'p',
          { class: 'muted small' },
          'Per minute, this gateway process, since it started. Prometheus has the full history at /metrics.',
        ),
        traffic,
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Recent activity'),
        auditTable(recent.events, names.name),
        h('p', {}, h('a', { href: '#/audit' }, 'All audit events')),
      ),
    ];
  }

  // ---- Views: tenants -----------------------------------------------------------------------

  async function tenantsView(params) {
    const { tenants } = await api('GET', '/admin/tenants');
    const search = h('input', {
      type: 'search',
      id: 'tenant-search',
      placeholder: 'Name, id, domain or project',
      value: params.get('q') || '',
    });
    const tbody = h('tbody');
    const pager = h('div', { class: 'pager' });
    const PAGE = 25;
    let page = 0;
    const columns = ['Name', 'Id', 'Bound to', 'Created'];
    const render = () => {
      const q = search.value.trim().toLowerCase();
      const hits = tenants.filter((t) => !q || [t.name, t.id, ...t.bindings.map(bindingText)].some((s) => s.toLowerCase().includes(q)));
      const pages = Math.max(1, Math.ceil(hits.length / PAGE));
      page = Math.min(page, pages - 1);
      tbody.replaceChildren(
        ...hits.slice(page * PAGE, page * PAGE + PAGE).map((t) =>
          row(columns, {
            attrs: { dataset: { tenantId: t.id } },
            cells: [
              h('a', { href: tenantHref(t.id), class: 'tenant-link' }, t.name),
              shortId(t.id),
              t.bindings.length
                ? t.bindings.map((b) => h('div', { class: 'binding' }, bindingText(b)))
                : h('span', { class: 'muted' }, 'none'),
              when(t.createdAt),
            ],
          }),
        ),
      );
      const prev = h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          disabled: page === 0,
          onclick: () => {
            page--;
            render();
          },
        },
        '← Previous',
      );
      const next = h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          disabled: page >= pages - 1,
          onclick: () => {
            page++;
            render();
          },
        },
        'Next →',
      );
      pager.replaceChildren(
        prev,
        h(
          'span',
          { class: 'muted' },
          hits.length ? `${page * PAGE + 1}–${Math.min(hits.length, page * PAGE + PAGE)} of ${hits.length}` : 'No match',
        ),
        next,
      );
    };
    search.addEventListener('input', () => {
      page = 0;
      render();
    });
    render();
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
          ? [
              h('div', { class: 'filters' }, h('label', {}, 'Search', search)),
              h(
                'table',
                { id: 'tenants', class: 'rt' },
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    columns.map((c) => h('th', {}, c)),
                  ),
                ),
                tbody,
              ),
              pager,
            ]
          : h(
              'p',
              { class: 'muted' },
              'No tenants yet. Creating an OVH domain, a Huawei project or a CSE instance makes one; so does this form.',
            ),
      ),
      h('section', { class: 'card' }, h('h2', {}, 'New tenant'), form),
    ];
  }

  // ---- Views: a tenant's keys ----------------------------------------------------------------

  // What a new key may do, and what it does unless asked otherwise: one purpose per key, so an RSA
  // or EC key signs and verifies; encryption with an RSA key is a choice made on purpose.
  const KEY_TYPES = {
    oct: {
      label: 'AES (oct)',
      sizes: [128, 192, 256],
      ops: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
      defaults: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
    },
    RSA: {
      label: 'RSA',
      sizes: [2048, 3072, 4096],
      ops: ['sign', 'verify', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
      defaults: ['sign', 'verify'],
    },
    EC: { label: 'EC', curves: ['P-256', 'P-384', 'P-521'], ops: ['sign', 'verify'], defaults: ['sign', 'verify'] },
  };

  function createKeyForm(tenantId, onCreated) {
    const name = h('input', { name: 'name', id: 'key-name', required: true, maxlength: '256' });
    const description = h('input', { name: 'description', id: 'key-description', maxlength: '1024' });
    const type = h(
      'select',
      { name: 'type', id: 'key-type' },
      Object.entries(KEY_TYPES).map(([v, t]) => h('option', { value: v }, t.label)),
    );
    const size = h('select', { name: 'size', id: 'key-size' });
    const sizeLabel = h('label', {}, 'Size (bits)', size);
    const curve = h('select', { name: 'curve', id: 'key-curve' });
    const curveLabel = h('label', {}, 'Curve', curve);
    const ops = h('fieldset', { id: 'key-ops' });
    const hint = h('p', { class: 'muted small', id: 'key-ops-hint' });
    const sync = () => {
      const t = KEY_TYPES[type.value];
      sizeLabel.hidden = !t.sizes;
      curveLabel.hidden = !t.curves;
      size.replaceChildren(...(t.sizes || []).map((s) => h('option', { value: String(s) }, String(s))));
      if (t.sizes) size.value = String(t.sizes.includes(256) ? 256 : type.value === 'RSA' ? 3072 : t.sizes[0]);
      curve.replaceChildren(...(t.curves || []).map((c) => h('option', { value: c }, c)));
      ops.replaceChildren(
        h('legend', {}, 'Operations'),
        ...t.ops.map((op) => h('label', {}, h('input', { type: 'checkbox', name: 'op', value: op, checked: t.defaults.includes(op) }), op)),
      );
      hint.textContent =
        type.value === 'RSA'
          ? 'Signing only by default: tick encrypt or wrap only for a key meant for encryption; one key for both purposes is discouraged.'
          : '';
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
            flash(`Key ${k.name} created.`);
            name.value = '';
            description.value = '';
            await onCreated(k);
          });
        },
      },
      h(
        'div',
        { class: 'actions' },
        h('label', {}, 'Name', name),
        h('label', {}, 'Description', description),
        h('label', {}, 'Type', type),
        sizeLabel,
        curveLabel,
      ),
      ops,
      hint,
      h('p', {}, h('button', { type: 'submit' }, 'Create key')),
    );
  }

  const sizeOf = (k) => (k.curve ? k.curve : k.size ? `${k.size} bits` : '—');
  const KEY_COLUMNS = ['Name', 'State', 'Type', 'Operations', 'Created', 'Id'];

  function keyRow(tenantId, k) {
    return row(KEY_COLUMNS, {
      attrs: { dataset: { keyId: k.id } },
      cells: [
        [
          h('a', { href: keyHref(tenantId, k.id), class: 'key-link' }, k.name),
          k.description ? h('div', { class: 'muted small' }, k.description) : null,
        ],
        stateBadge(k.state),
        `${k.type} ${sizeOf(k)}`,
        k.operations.join(', '),
        when(k.createdAt),
        shortId(k.id),
      ],
    });
  }

  /** Search, type and state filters, and pages (a stack of cursors, so Previous needs no offset). */
  async function keysSection(tenantId) {
    const tbody = h('tbody');
    const search = h('input', {
      type: 'search',
      id: 'key-search',
      placeholder: 'Name, description, alias or id',
      maxlength: '256',
    });
    const type = h(
      'select',
      { id: 'key-filter-type' },
      h('option', { value: '' }, 'Any type'),
      Object.entries(KEY_TYPES).map(([v, t]) => h('option', { value: v }, t.label)),
    );
    const state = h(
      'select',
      { id: 'key-filter-state' },
      h('option', { value: '' }, 'Any state'),
      STATES.map((s) => h('option', { value: s }, s.replace('_', ' '))),
    );
    const size = h(
      'select',
      { id: 'key-page-size' },
      ['10', '25', '50', '100'].map((n) => h('option', { value: n, selected: n === '25' }, `${n} a page`)),
    );
    const prev = h('button', { type: 'button', class: 'secondary', id: 'keys-prev' }, '← Previous');
    const next = h('button', { type: 'button', class: 'secondary', id: 'keys-next' }, 'Next →');
    const status = h('span', { class: 'muted', id: 'keys-status' });
    const cursors = [null]; // cursors[i] opens page i
    let page = 0;
    const load = async () => {
      const q = new URLSearchParams({ limit: size.value });
      if (search.value.trim()) q.set('search', search.value.trim());
      if (type.value) q.set('type', type.value);
      if (state.value) q.set('state', state.value);
      if (cursors[page]) q.set('cursor', cursors[page]);
      const res = await api('GET', `/admin/tenants/${enc(tenantId)}/keys?${q}`);
      tbody.replaceChildren(...res.keys.map((k) => keyRow(tenantId, k)));
      cursors[page + 1] = res.nextCursor;
      cursors.length = page + 2;
      prev.disabled = page === 0;
      next.disabled = !res.nextCursor;
      const first = page * Number(size.value) + 1;
      status.textContent = res.keys.length
        ? `Keys ${first}–${first + res.keys.length - 1}`
        : page === 0
          ? 'No keys match.'
          : 'No more keys.';
    };
    const restart = () => {
      page = 0;
      cursors.length = 1;
      return load();
    };
    let typing;
    search.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => act(null, restart), 250);
    });
    for (const el of [type, state, size]) el.addEventListener('change', () => act(null, restart));
    // Not `act(button, ...)`: it would re-enable a button that `load` just disabled at the last page.
    let turning = false;
    const turn = (step) => {
      if (turning) return;
      turning = true;
      page = Math.max(0, page + step);
      act(null, load).finally(() => {
        turning = false;
      });
    };
    prev.addEventListener('click', () => turn(-1));
    next.addEventListener('click', () => turn(1));
    await load();
    const filters = h(
      'form',
      {
        class: 'filters',
        id: 'key-filters',
        onsubmit: (ev) => {
          ev.preventDefault();
          act(null, restart);
        },
      },
      h('label', { class: 'grow' }, 'Search', search),
      h('label', {}, 'Type', type),
      h('label', {}, 'State', state),
      h('label', {}, 'Page', size),
    );
    return [
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Keys'),
        filters,
        h(
          'table',
          { id: 'keys', class: 'rt' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              KEY_COLUMNS.map((c) => h('th', {}, c)),
            ),
          ),
          tbody,
        ),
        h('div', { class: 'pager' }, prev, status, next),
      ),
      h(
        'section',
        { class: 'card' },
        h(
          'details',
          { id: 'new-key' },
          h('summary', {}, h('h2', { class: 'inline' }, 'Create a key')),
          createKeyForm(tenantId, () => restart()),
        ),
      ),
    ];
  }

  // ---- Views: a tenant's credentials in every dialect it is bound to ------------------------

  async function ovhCredentials(b) {
    const base = `/v2/okms/resource/${enc(b.externalId)}/credential`;
    const [creds, policies] = await Promise.all([
      api('GET', base),
      api('GET', `/admin/ovh/domains/${enc(b.externalId)}/policies`).catch(() => []),
    ]);
    const columns = ['Name', 'Status', 'Identities', 'Type', 'Expires', 'Id', ''];
    const rows = creds.map((c) => {
      const revoke = h('button', { type: 'button', class: 'danger', disabled: c.status !== 'READY' && c.status !== 'CREATING' }, 'Revoke');
      revoke.addEventListener('click', () =>
        act(revoke, async () => {
          const ok = confirm(
            `Revoke the access certificate "${c.name}" (${c.id})?\n\nClients using it are refused at once. This cannot be undone; issue a new credential to restore access.`,
          );
          if (!ok) return;
          await api('DELETE', `${base}/${enc(c.id)}`);
          flash(`Credential ${c.name} revoked.`);
          await route();
        }),
      );
      return {
        attrs: { dataset: { credentialId: c.id } },
        cells: [
          c.name,
          td({ class: 'cred-status' }, c.status),
          c.identityURNs.map((u) => h('div', { class: 'wrap' }, u)),
          c.certificateType,
          when(c.expiredAt),
          shortId(c.id),
          revoke,
        ],
      };
    });
    return [
      h('h3', {}, `OVH domain ${b.externalId}`),
      rows.length
        ? table({ class: 'credentials stack', dataset: { okmsId: b.externalId } }, columns, rows)
        : h('p', { class: 'muted' }, 'No access certificates.'),
      ...(await ovhTokens(b)),
      h(
        'p',
        { class: 'muted small' },
        policies.length
          ? `IAM policies: ${policies.map((p) => p.name).join(', ')}`
          : 'No IAM policies: every identity of a valid certificate may use every key.',
      ),
    ];
  }

  /**
   * A domain's bearer tokens: the list with revocation, and the form that issues one. The new token
   * is shown once, beside the form, and the list refreshes in place so that it stays on screen.
   */
  async function ovhTokens(b) {
    const base = `/admin/ovh/domains/${enc(b.externalId)}/tokens`;
    const columns = ['Name', 'Status', 'Identities', 'Expires', 'Id', ''];
    const list = h('div', { class: 'token-list' });
    const refresh = async () => {
      const tokens = await api('GET', base);
      list.replaceChildren(
        tokens.length
          ? table(
              { class: 'credentials tokens stack', dataset: { okmsId: b.externalId } },
              columns,
              tokens.map((t) => {
                const revoke = h('button', { type: 'button', class: 'danger', disabled: t.status !== 'ACTIVE' }, 'Revoke');
                revoke.addEventListener('click', () =>
                  act(revoke, async () => {
                    if (!confirm(`Revoke the bearer token "${t.name}" (${t.id})?\n\nClients using it are refused at once.`)) return;
                    await api('DELETE', `${base}/${enc(t.id)}`);
                    flash(`Token ${t.name} revoked.`);
                    await refresh();
                  }),
                );
                return {
                  attrs: { dataset: { tokenId: t.id } },
                  cells: [
                    t.name,
                    td({ class: 'token-status' }, t.status),
                    t.identityURNs.map((u) => h('div', { class: 'wrap' }, u)),
                    when(t.expiresAt),
                    shortId(t.id),
                    revoke,
                  ],
                };
              }),
            )
          : h('p', { class: 'muted' }, 'No bearer tokens.'),
      );
    };
    const name = h('input', { name: 'name', required: true, maxlength: '50' });
    const urns = h('input', { name: 'identityURNs', required: true, size: '48', placeholder: 'urn:v1:eu:identity:user:…' });
    const validity = h('input', { name: 'validity', type: 'number', min: '1', max: '365', value: '30', required: true });
    const issued = h('div', { class: 'issued-token' });
    const form = h(
      'form',
      {
        class: 'issue-token',
        onsubmit: (ev) => {
          ev.preventDefault();
          act(ev.submitter, async () => {
            const identityURNs = urns.value.split(/[\s,]+/).filter(Boolean);
            const t = await api('POST', base, { name: name.value, identityURNs, validity: Number(validity.value) });
            issued.replaceChildren(
              h('p', {}, `Token ${t.name} issued. Copy it now: it is not shown again.`),
              h('input', { class: 'mono', readonly: true, size: '64', value: t.token, 'aria-label': 'The new bearer token' }),
            );
            name.value = '';
            await refresh();
          });
        },
      },
      h(
        'div',
        { class: 'actions' },
        h('label', {}, 'Name', name),
        h('label', {}, 'Identity URNs (space-separated)', urns),
        h('label', {}, 'Valid for (days)', validity),
        h('button', { type: 'submit' }, 'Issue token'),
      ),
    );
    await refresh();
    return [h('h4', {}, 'Bearer tokens'), list, h('details', { class: 'issue' }, h('summary', {}, 'Issue a bearer token'), form, issued)];
  }

  async function huaweiCredentials(projects) {
    const users = (await api('GET', '/admin/huawei/users')).filter((u) => u.projects.some((p) => projects.includes(p.id)));
    if (!users.length)
      return [
        h('h3', {}, `Huawei project ${projects.join(', ')}`),
        h('p', { class: 'muted' }, 'No IAM users with a role in this project.'),
      ];
    const keys = await Promise.all(users.map((u) => api('GET', `/admin/huawei/users/${enc(u.id)}/access-keys`)));
    const columns = ['User', 'Roles', 'Enabled', 'Access keys', 'Created'];
    return [
      h('h3', {}, `Huawei project ${projects.join(', ')}`),
      table(
        { class: 'huawei-users stack' },
        columns,
        users.map((u, i) => ({
          attrs: { dataset: { userId: u.id } },
          cells: [
            `${u.domain.name} / ${u.name}`,
            u.projects.filter((p) => projects.includes(p.id)).map((p) => h('div', {}, `${p.id}: ${p.roles.join(', ')}`)),
            u.enabled ? 'yes' : 'no',
            keys[i].length
              ? keys[i].map((k) =>
                  h(
                    'div',
                    { class: 'access-key' },
                    h('span', { class: 'mono' }, k.access),
                    ` ${k.status}`,
                    k.description ? ` · ${k.description}` : '',
                  ),
                )
              : h('span', { class: 'muted' }, 'none'),
            when(u.created_at),
          ],
        })),
      ),
    ];
  }

  async function cseSummary(instances) {
    const cfg = await api('GET', '/admin/cse');
    const out = [h('h3', {}, `CSE instance ${instances.join(', ')}`)];
    if (!cfg.enabled || !instances.includes(cfg.instance))
      return [
        ...out,
        h('p', { class: 'muted' }, 'This gateway does not serve this KACLS instance (no CSE configuration for it is loaded).'),
      ];
    const prop = (label, value) => [h('dt', {}, label), h('dd', { class: 'wrap' }, value)];
    const list = (xs, empty = 'none') => (xs.length ? xs.map((x) => h('div', {}, x)) : h('span', { class: 'muted' }, empty));
    return [
      ...out,
      h(
        'dl',
        { class: 'props', id: 'cse-summary' },
        prop('Name', cfg.name || '—'),
        prop('KACLS URL', cfg.kaclsUrl),
        prop('Configuration file', cfg.file || '—'),
        prop(
          'Identity providers',
          list(cfg.identityProviders.map((p) => `${p.name ? `${p.name}: ` : ''}${p.issuer} (audiences ${p.audiences.join(', ')})`)),
        ),
        prop(
          'Authorization issuers',
          list(
            cfg.authorizationIssuers.map((a) => `${a.issuer}${a.application ? ` (${a.application})` : ''}`),
            'Google’s (default)',
          ),
        ),
        prop('Authorization audience', cfg.authorizationAudience),
        prop('Privileged users', list(cfg.privilegedUsers)),
        prop('Guests', cfg.allowGuests ? 'allowed' : 'refused'),
        prop('Owner domain', cfg.ownerDomain || '—'),
        prop('Perimeters', list(cfg.perimeters)),
        prop('Peers', list(cfg.peers)),
      ),
    ];
  }

  async function credentialsSection(tenant) {
    const by = (d) => tenant.bindings.filter((x) => x.dialect === d).map((b) => b.externalId);
    const parts = [];
    for (const b of tenant.bindings.filter((x) => x.dialect === 'ovh')) parts.push(...(await ovhCredentials(b)));
    if (by('huawei').length) parts.push(...(await huaweiCredentials(by('huawei'))));
    if (by('cse').length) parts.push(...(await cseSummary(by('cse'))));
    const { credentials } = await api('GET', `/admin/tenants/${enc(tenant.id)}/credentials`);
    const others = credentials.filter((c) => c.dialect !== 'ovh');
    if (others.length) {
      parts.push(
        h('h3', {}, 'Other credentials'),
        table(
          { class: 'stack' },
          ['Dialect', 'Name', 'Status', 'Identities', 'Expires', 'Id'],
          others.map((c) => ({
            cells: [c.dialect, c.name, c.status, td({ class: 'wrap' }, c.identities.join(', ')), when(c.expiresAt), shortId(c.id)],
          })),
        ),
      );
    }
    if (!parts.length) parts.push(h('p', { class: 'muted' }, 'No credentials for this tenant: it is bound to no dialect namespace.'));
    return h('section', { class: 'card', id: 'credentials' }, h('h2', {}, 'Credentials'), parts);
  }

  async function tenantView(tenantId) {
    const tenant = await api('GET', `/admin/tenants/${enc(tenantId)}`);
    const [keys, creds] = await Promise.all([keysSection(tenant.id), credentialsSection(tenant)]);
    return [
      h('p', {}, h('a', { href: '#/tenants' }, '← Tenants')),
      h('h1', { id: 'tenant-name', class: 'wrap' }, `Tenant ${tenant.name}`),
      h(
        'section',
        { class: 'card' },
        h(
          'dl',
          { class: 'props' },
          h('dt', {}, 'Id'),
          h('dd', { class: 'mono wrap' }, tenant.id),
          h('dt', {}, 'Bound to'),
          h('dd', {}, tenant.bindings.length ? tenant.bindings.map((b) => h('div', { class: 'wrap' }, bindingText(b))) : 'nothing'),
        ),
        h('p', {}, h('a', { href: `#/audit?tenant=${enc(tenant.id)}` }, 'Audit events of this tenant')),
      ),
      keys,
      creds,
    ];
  }

  // ---- Views: one key -----------------------------------------------------------------------

  const DEACTIVATION_REASONS = [
    'unspecified',
    'key_compromise',
    'ca_compromise',
    'affiliation_changed',
    'superseded',
    'cessation_of_operation',
    'privilege_withdrawn',
  ];
  const DELETABLE = ['deactivated', 'compromised', 'pending_deletion'];

  async function keyView(tenantId, keyId) {
    const base = `/admin/tenants/${enc(tenantId)}/keys/${enc(keyId)}`;
    const k = await api('GET', base);
    const reload = () => route();
    const prop = (label, value, cls) => [
      h('dt', {}, label),
      h('dd', { class: cls, dataset: { prop: label.toLowerCase().replace(/\W+/g, '-') } }, value),
    ];
    const props = h(
      'dl',
      { class: 'props', id: 'key-props' },
      prop('Id', k.id, 'mono wrap'),
      prop('Name', k.name, 'wrap'),
      prop('Description', k.description || '—', 'wrap'),
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
      sections.push(
        h(
          'section',
          { class: 'card' },
          h(
            'p',
            { class: 'warning' },
            'This key is destroyed: its material is erased and data encrypted with it cannot be decrypted. Its metadata is kept for the audit trail.',
          ),
        ),
      );
    } else {
      const newName = h('input', { name: 'name', id: 'rename-name', value: k.name, required: true, maxlength: '256' });
      const newDescription = h('input', {
        name: 'description',
        id: 'rename-description',
        value: k.description,
        maxlength: '1024',
      });
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
        const reason = h(
          'select',
          { name: 'reason', id: 'deactivate-reason' },
          DEACTIVATION_REASONS.map((r) => h('option', { value: r }, r.replace(/_/g, ' '))),
        );
        state.push(
          h(
            'p',
            {},
            'A deactivated key no longer encrypts or signs; it still decrypts and verifies existing data, and it can be activated again.',
          ),
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

    const events = await api('GET', `/admin/audit?key=${enc(k.id)}&limit=20&hideConsoleReads=true`);
    sections.push(
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Recent events of this key'),
        auditTable(events.events, () => undefined, false),
        h('p', {}, h('a', { href: `#/audit?key=${enc(k.id)}` }, 'All events of this key')),
      ),
    );

    return [
      h('p', {}, h('a', { href: tenantHref(tenantId) }, '← Keys of the tenant')),
      h('h1', { class: 'wrap' }, `Key ${k.name}`),
      h('section', { class: 'card' }, props),
      sections,
    ];
  }

  // ---- Views: audit -------------------------------------------------------------------------

  const AUDIT_COLUMNS = ['Time', 'Tenant', 'Who', 'Action', 'Key', 'Outcome', 'Details'];
  const detailsText = (d) =>
    d
      ? Object.entries(d)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ')
      : '';

  function auditRow(e, tenantName, withTenant = true) {
    const cols = withTenant ? AUDIT_COLUMNS : AUDIT_COLUMNS.filter((c) => c !== 'Tenant');
    const details = detailsText(e.details);
    const cells = [
      td({ class: 'nowrap' }, when(e.at)),
      withTenant
        ? e.tenantId
          ? h(
              'a',
              {
                href: tenantHref(e.tenantId),
                class: 'clip',
                title: `${tenantName(e.tenantId) || ''} ${e.tenantId}`.trim(),
              },
              tenantName(e.tenantId) || `${e.tenantId.slice(0, 8)}…`,
            )
          : '—'
        : undefined,
      td(
        { class: 'who' },
        h('span', { class: 'dialect' }, e.dialect),
        ' ',
        h('span', { class: 'principal', title: e.principal }, e.principal),
      ),
      td({ class: 'nowrap' }, e.action),
      e.keyId && e.tenantId
        ? h('a', { href: keyHref(e.tenantId, e.keyId), class: 'nowrap', title: e.keyId }, `${e.keyId.slice(0, 8)}…`)
        : e.keyId
          ? shortId(e.keyId)
          : '—',
      td(
        { class: e.outcome === 'allowed' ? 'outcome' : 'outcome error' },
        e.outcome,
        e.errorKind ? h('div', { class: 'small' }, e.errorKind) : '',
      ),
      td(
        { class: 'details' },
        details ? h('span', { class: 'mono wrap' }, details) : '',
        e.requestId ? h('div', { class: 'muted small' }, 'request ', shortId(e.requestId)) : '',
      ),
    ].filter((c) => c !== undefined);
    return row(cols, { attrs: { dataset: { action: e.action, outcome: e.outcome } }, cells });
  }

  function auditTable(events, tenantName, withTenant = true) {
    if (!events.length) return h('p', { class: 'muted' }, 'No events.');
    const cols = withTenant ? AUDIT_COLUMNS : AUDIT_COLUMNS.filter((c) => c !== 'Tenant');
    return h(
      'table',
      { class: 'rt audit stack' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          cols.map((c) => h('th', {}, c)),
        ),
      ),
      h(
        'tbody',
        {},
        events.map((e) => auditRow(e, tenantName, withTenant)),
      ),
    );
  }

  const COMMON_ACTIONS = [
    'key.create',
    'key.import',
    'key.get',
    'key.list',
    'key.update',
    'key.activate',
    'key.deactivate',
    'key.schedule_deletion',
    'key.cancel_deletion',
    'key.destroy',
    'key.rotate',
    'key.encrypt',
    'key.decrypt',
    'key.generate_data_key',
    'key.sign',
    'key.verify',
    'key.get_public_key',
    'random',
    'tenant.create',
    'credential.create',
    'credential.revoke',
    'policy.set',
    'token.issue',
    'token.create',
    'token.revoke',
  ];
  /** `datetime-local` shows local time; the API takes ISO 8601. */
  const toLocalInput = (iso) => {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  };

  async function auditView(params) {
    const names = await tenantNames();
    const q = new URLSearchParams({ limit: '50' });
    for (const f of ['tenant', 'key', 'principal', 'action', 'outcome', 'dialect', 'since', 'until'])
      if (params.get(f)) q.set(f, params.get(f));
    const showConsole = params.get('console') === 'show';
    q.set('hideConsoleReads', showConsole ? 'false' : 'true');
    const page = await api('GET', `/admin/audit?${q}`);

    const field = (label, input) => h('label', {}, label, input);
    const tenant = h(
      'select',
      { id: 'audit-tenant' },
      h('option', { value: '' }, 'All tenants'),
      names.tenants.map((t) =>
        h('option', { value: t.id, selected: t.id === params.get('tenant') || t.name === params.get('tenant') }, t.name),
      ),
    );
    const key = h('input', {
      id: 'audit-key',
      type: 'search',
      placeholder: 'Key id',
      value: params.get('key') || '',
      maxlength: '36',
      spellcheck: 'false',
    });
    const principal = h('input', {
      id: 'audit-principal',
      type: 'search',
      placeholder: 'Contains…',
      value: params.get('principal') || '',
      maxlength: '256',
    });
    const action = h(
      'select',
      { id: 'audit-action' },
      h('option', { value: '' }, 'Any action'),
      [...new Set([...COMMON_ACTIONS, params.get('action')].filter(Boolean))].map((a) =>
        h('option', { value: a, selected: a === params.get('action') }, a),
      ),
    );
    const outcome = h(
      'select',
      { id: 'audit-outcome' },
      h('option', { value: '' }, 'Any outcome'),
      ['allowed', 'denied', 'failed'].map((o) => h('option', { value: o, selected: o === params.get('outcome') }, o)),
    );
    const since = h('input', { id: 'audit-since', type: 'datetime-local', value: toLocalInput(params.get('since')) });
    const until = h('input', { id: 'audit-until', type: 'datetime-local', value: toLocalInput(params.get('until')) });
    const consoleReads = h('input', { id: 'audit-console', type: 'checkbox', checked: showConsole });
    const form = h(
      'form',
      {
        class: 'filters',
        id: 'audit-filters',
        onsubmit: (ev) => {
          ev.preventDefault();
          const next = new URLSearchParams();
          if (tenant.value) next.set('tenant', tenant.value);
          if (key.value.trim()) next.set('key', key.value.trim());
          if (principal.value.trim()) next.set('principal', principal.value.trim());
          if (action.value) next.set('action', action.value);
          if (outcome.value) next.set('outcome', outcome.value);
          if (since.value) next.set('since', new Date(since.value).toISOString());
          if (until.value) next.set('until', new Date(until.value).toISOString());
          if (consoleReads.checked) next.set('console', 'show');
          navigate(`#/audit?${next}`);
        },
      },
      field('Tenant', tenant),
      field('Key', key),
      field('Principal', principal),
      field('Action', action),
      field('Outcome', outcome),
      field('From', since),
      field('Until', until),
      h('label', { class: 'check' }, consoleReads, "Show the console's own reads"),
      h(
        'div',
        { class: 'filter-buttons' },
        h('button', { type: 'submit' }, 'Apply'),
        h('a', { href: '#/audit', class: 'button secondary' }, 'Clear'),
      ),
    );

    const results = h('div', { id: 'audit-results' }, auditTable(page.events, names.name));
    const more = h('button', { type: 'button', class: 'secondary', hidden: !page.nextBefore }, 'Older events');
    let before = page.nextBefore;
    more.addEventListener('click', () =>
      act(more, async () => {
        q.set('before', before);
        const next = await api('GET', `/admin/audit?${q}`);
        results.querySelector('tbody')?.append(...next.events.map((e) => auditRow(e, names.name)));
        before = next.nextBefore;
        more.hidden = !before;
      }),
    );
    return [
      h('h1', {}, 'Audit events'),
      h('section', { class: 'card' }, form),
      h(
        'section',
        { class: 'card', id: 'audit' },
        h(
          'p',
          { class: 'muted small' },
          showConsole ? 'Including the console’s own reads.' : 'The console’s own reads (key.get, key.list by admin-console) are hidden.',
        ),
        results,
        more,
      ),
    ];
  }

  // ---- Routing ------------------------------------------------------------------------------

  let generation = 0;
  async function route() {
    if (!sessionStorage.getItem(TOKEN_KEY)) return showLogin();
    const mine = ++generation;
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path, query] = hash.split('?');
    const params = new URLSearchParams(query || '');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    let render;
    const section = parts[0] || 'dashboard';
    if (parts.length === 0) render = () => dashboardView();
    else if (parts[0] === 'audit' && parts.length === 1) render = () => auditView(params);
    else if (parts[0] === 'tenants' && parts.length === 1) render = () => tenantsView(params);
    else if (parts[0] === 'tenants' && parts.length === 2) render = () => tenantView(parts[1]);
    else if (parts[0] === 'tenants' && parts[2] === 'keys' && parts.length === 4) render = () => keyView(parts[1], parts[3]);
    else render = async () => [h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Overview'))];
    for (const a of $('nav').querySelectorAll('a[data-section]')) a.classList.toggle('current', a.dataset.section === section);
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
    if (location.hash === hash) {
      keepFlash = false;
      route();
    } else location.hash = hash;
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
