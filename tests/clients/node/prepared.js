// node-postgres named queries through pgbalancer in transaction mode: every client runs its
// named statements across many transactions, which land on whichever server connection is
// free. Prints what it saw as JSON for the pytest suite to check.
// Usage: node prepared.js PORT USER PASSWORD DATABASE CLIENTS ROUNDS
const { Client } = require('pg');

async function main() {
  const [port, user, password, database, clients, rounds] = process.argv.slice(2);
  const conns = [];
  for (let i = 0; i < Number(clients); i++) {
    const c = new Client({ host: '127.0.0.1', port: Number(port), user, password, database });
    await c.connect();
    conns.push(c);
  }
  const pids = new Set();
  await Promise.all(conns.map(async (c, i) => {
    for (let r = 0; r < Number(rounds); r++) {
      const sum = await c.query({
        name: 'add', text: 'SELECT $1::int + $2::int AS sum, pg_backend_pid() AS pid', values: [i, r],
      });
      if (sum.rows[0].sum !== i + r) throw new Error(`client ${i}: got ${sum.rows[0].sum}`);
      pids.add(sum.rows[0].pid);
      await c.query('BEGIN');
      const echo = await c.query({ name: 'echo', text: 'SELECT $1::text AS v', values: [`r${r}`] });
      if (echo.rows[0].v !== `r${r}`) throw new Error(`client ${i}: echo ${echo.rows[0].v}`);
      await c.query('COMMIT');
    }
  }));
  const names = await conns[0].query('SELECT name FROM pg_prepared_statements ORDER BY name');
  console.log(JSON.stringify({ pids: [...pids], names: names.rows.map((row) => row.name) }));
  await Promise.all(conns.map((c) => c.end()));
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
