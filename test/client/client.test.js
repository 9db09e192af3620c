// A real application client of worldstate, written with node-postgres.
//
// As an application role -- LOGIN, member of ws_writer, holding the grant
// of module "shop" and nothing else -- it creates entities, updates them
// optimistically and retries version conflicts (WS409) by reading the
// entity again, publishes events and consumes them through a subscriber
// (poll, process, ack).  It runs against the throwaway cluster of
// test/run-tests.sh: PGHOST, PGPORT and PGUSER (a superuser, used only to
// set up the database and the role) come from the environment.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client, Pool } = require('pg');

const DB = 'ws_client';
const APP_ROLE = 'ws_client_app';
const HANDSHAKE = '55-45-17';

let app;          // the application's connection pool

// Run one setup script as the superuser in the given database.
async function asAdmin(database, sql) {
  const c = new Client({ database });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

before(async () => {
  await asAdmin('postgres', `DROP DATABASE IF EXISTS ${DB}`);
  await asAdmin('postgres', `CREATE DATABASE ${DB}`);
  await asAdmin(DB, `
    CREATE EXTENSION worldstate;
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
        CREATE ROLE ${APP_ROLE} LOGIN IN ROLE ws_writer;
      END IF;
    END $$;
    SELECT ws.register_module('shop', 1);
    SELECT ws.register_module('warehouse', 1);
    SELECT ws.grant_module('shop', '${APP_ROLE}', admin => true);
    SELECT ws.register_event_schema('warehouse', 'restocked', 1, ARRAY['$.qty > 0']::jsonpath[]);
  `);
  // every session of the application presents the handshake
  app = new Pool({ database: DB, user: APP_ROLE, max: 8,
                   options: `-c worldstate.handshake=${HANDSHAKE}` });
});

after(async () => {
  if (app) await app.end();
});

// The SQLSTATE of the error fn throws (undefined when it throws none).
async function sqlstate(fn) {
  try {
    await fn();
  } catch (e) {
    return e.code;
  }
  return undefined;
}

// Read-modify-write of one field with an optimistic version check:
// on WS409 read the entity again and retry.  Returns the retries needed.
async function addToTotal(client, id, amount) {
  for (let retries = 0; ; retries++) {
    const { rows: [cur] } = await client.query(
      'SELECT state, version FROM ws.entities WHERE entity_id = $1', [id]);
    const next = { total: cur.state.total + amount };
    try {
      await client.query('SELECT ws.transition($1, $2, expected_version => $3)',
                         [id, next, cur.version]);
      return retries;
    } catch (e) {
      if (e.code !== 'WS409') throw e;
    }
  }
}

test('the application role creates entities of its module', async () => {
  const { rows: [who] } = await app.query('SELECT current_user AS role');
  assert.equal(who.role, APP_ROLE);
  await app.query(`SELECT ws.define_kind('order', 'shop', 'lww', ARRAY['items'])`);
  await app.query(`SELECT ws.add_constraint('order', 'items_not_negative', '$.items >= 0')`);
  for (let i = 1; i <= 5; i++) {
    const { rows: [e] } = await app.query(
      'SELECT entity_id, version, state FROM ws.create_entity($1, $2, $3, $4)',
      [`order-${i}`, 'order', 'shop', { items: i, total: 0 }]);
    assert.equal(e.version, '1');
    assert.deepEqual(e.state, { items: i, total: 0 });
  }
  // a constraint violation is WS422, a duplicate 23505
  assert.equal(await sqlstate(() => app.query(
    `SELECT ws.transition('order-1', '{"items": -5}')`)), 'WS422');
  assert.equal(await sqlstate(() => app.query(
    `SELECT ws.create_entity('order-1', 'order', 'shop', '{}')`)), '23505');
});

test('a stale expected version is WS409; re-reading and retrying succeeds', async () => {
  const a = await app.connect();
  const b = await app.connect();
  try {
    // a reads, b changes the entity, a's update is refused
    const { rows: [seen] } = await a.query(
      `SELECT version FROM ws.entities WHERE entity_id = 'order-1'`);
    await b.query(`SELECT ws.transition('order-1', '{"note": "by b"}')`);
    assert.equal(await sqlstate(() => a.query(
      `SELECT ws.transition('order-1', '{"note": "by a"}', expected_version => $1)`,
      [seen.version])), 'WS409');
    // the retry loop reads again and succeeds
    const retries = await addToTotal(a, 'order-1', 10);
    assert.equal(retries, 0);
    const { rows: [now] } = await a.query(
      `SELECT state, version FROM ws.entities WHERE entity_id = 'order-1'`);
    assert.equal(now.state.total, 10);
    assert.equal(now.state.note, 'by b');
    assert.equal(now.version, String(Number(seen.version) + 2));
  } finally {
    a.release();
    b.release();
  }
});

test('concurrent optimistic writers lose no update', async (t) => {
  const workers = 6;
  const perWorker = 5;
  const { rows: [start] } = await app.query(
    `SELECT (state->>'total')::int AS total, version FROM ws.entities WHERE entity_id = 'order-2'`);
  const results = await Promise.all(Array.from({ length: workers }, async () => {
    const c = await app.connect();
    try {
      let retries = 0;
      for (let i = 0; i < perWorker; i++) retries += await addToTotal(c, 'order-2', 1);
      return retries;
    } finally {
      c.release();
    }
  }));
  const { rows: [end] } = await app.query(
    `SELECT (state->>'total')::int AS total, version FROM ws.entities WHERE entity_id = 'order-2'`);
  assert.equal(end.total, start.total + workers * perWorker, 'every increment applied once');
  assert.equal(Number(end.version), Number(start.version) + workers * perWorker,
               'one version per applied increment');
  const { rows: [log] } = await app.query(
    `SELECT count(*)::int AS n FROM ws.events WHERE entity_id = 'order-2'`);
  assert.equal(log.n, Number(end.version), 'one event per version');
  t.diagnostic(`retries after WS409: ${results.reduce((s, r) => s + r, 0)}`);
});

test('events are published, validated, polled in arrival order and acknowledged', async () => {
  await app.query(`SELECT ws.register_event_schema('shop', 'order_placed', 1,
                     ARRAY['$.amount > 0', 'exists($.order)']::jsonpath[])`);
  await app.query(`SELECT ws.subscribe('shop.billing', 'shop', 'order_placed')`);

  // four publishers at once
  const published = new Set();
  await Promise.all([0, 1, 2, 3].map(async (p) => {
    const c = await app.connect();
    try {
      for (let i = 0; i < 25; i++) {
        const { rows: [r] } = await c.query(
          `SELECT ws.publish('shop', 'order_placed', $1) AS id`,
          [{ order: `order-${p}-${i}`, amount: 1 + i }]);
        published.add(r.id);
      }
    } finally {
      c.release();
    }
  }));
  assert.equal(published.size, 100);

  // an invalid payload is WS422, naming the rule
  await assert.rejects(
    app.query(`SELECT ws.publish('shop', 'order_placed', '{"amount": 0, "order": "x"}')`),
    (e) => e.code === 'WS422' && /rule 1/.test(e.message));

  // consume: poll a batch, process it, acknowledge up to its last event
  const received = [];
  let last = null;
  for (let round = 0; received.length < 100 && round < 100; round++) {
    const { rows } = await app.query(
      `SELECT event_id, hlc::text AS hlc, patch, arrival::text AS arrival
       FROM ws.poll('shop.billing', 30)`);
    for (const r of rows) {
      const key = BigInt(r.arrival);
      if (last !== null) {
        assert.ok(key > last, `events come in local arrival order (${r.arrival})`);
      }
      last = key;
      received.push(r);
    }
    if (rows.length > 0) {
      await app.query('SELECT ws.ack($1, $2::ws.hlc)', ['shop.billing', rows[rows.length - 1].hlc]);
    }
  }
  assert.equal(received.length, 100, 'every event received');
  assert.deepEqual(new Set(received.map((r) => r.event_id)), published, 'exactly the events published');
  const { rows: more } = await app.query(`SELECT * FROM ws.poll('shop.billing', 10)`);
  assert.equal(more.length, 0, 'nothing left after acknowledging everything');
  const { rows: [lag] } = await app.query(
    `SELECT events_behind::int AS behind FROM ws.module_lag WHERE subscriber = 'shop.billing'`);
  assert.equal(lag.behind, 0);
});

test('a module reads other modules\' events but writes only its own', async () => {
  await asAdmin(DB, `
    SET worldstate.handshake = '${HANDSHAKE}';
    SELECT ws.publish('warehouse', 'restocked', '{"sku": "apple", "qty": 12}');`);
  assert.equal(await sqlstate(() => app.query(
    `SELECT ws.publish('warehouse', 'restocked', '{"sku": "pear", "qty": 1}')`)), '42501');
  assert.equal(await sqlstate(() => app.query(
    `SELECT ws.subscribe('warehouse.spy', 'warehouse', '%')`)), '42501');
  await app.query(`SELECT ws.subscribe('shop.stock', 'warehouse', 'restocked')`);
  const { rows } = await app.query(`SELECT module, event_type, patch FROM ws.poll('shop.stock', 10)`);
  assert.deepEqual(rows, [{ module: 'warehouse', event_type: 'restocked',
                            patch: { sku: 'apple', qty: 12 } }]);
});

test('session state is visible to other sessions while its session lives', async () => {
  const a = new Client({ database: DB, user: APP_ROLE,
                         options: `-c worldstate.handshake=${HANDSHAKE}` });
  await a.connect();
  const { rows: [me] } = await a.query('SELECT pg_backend_pid() AS pid');
  await a.query(`SELECT ws.session_put('presence', '{"space": "checkout"}')`);
  const { rows: seen } = await app.query(
    'SELECT key, value FROM ws.session_state WHERE pid = $1', [me.pid]);
  assert.deepEqual(seen, [{ key: 'presence', value: { space: 'checkout' } }]);
  await a.end();
  // the backend exits asynchronously after the client has gone
  let left = 1;
  for (let i = 0; i < 200 && left > 0; i++) {
    const { rows: [r] } = await app.query(
      'SELECT count(*)::int AS n FROM ws.session_state WHERE pid = $1', [me.pid]);
    left = r.n;
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.equal(left, 0, 'gone once the session has ended');
});
