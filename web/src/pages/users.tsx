// An environment's users: search, roles, disable.
import { useEffect, useState } from 'preact/hooks';
import { admin, envPath, q } from '../api';
import { Alert, Field, NeedsEnv, Notice, Select, useAction, useSession, when } from '../ui';

interface User {
  id: string;
  email?: string;
  anonymous: boolean;
  roles: string[];
  disabled?: boolean;
  createdAt: string;
}

export function Users() {
  return (
    <section aria-labelledby="h-users">
      <h1 id="h-users">Users</h1>
      <NeedsEnv>
        <UserList />
      </NeedsEnv>
    </section>
  );
}

function UserList() {
  const s = useSession();
  const [search, setSearch] = useState('');
  const [role, setRole] = useState('');
  const [disabled, setDisabled] = useState('');
  const [items, setItems] = useState<User[]>([]);
  const [cursor, setCursor] = useState('');
  const [notice, setNotice] = useState('');
  const [run, error] = useAction();

  const load = (more = false) =>
    run(async () => {
      const page = await admin('GET', envPath(s.app, s.env, '/users') + q({ search, role, disabled, limit: 50, cursor: more ? cursor : '' }));
      setItems(more ? [...items, ...page.items] : page.items);
      setCursor(page.cursor || '');
    });
  useEffect(() => {
    load();
  }, []);

  const patch = (u: User, body: { roles?: string[]; disabled?: boolean }) =>
    run(async () => {
      const out = await admin('PATCH', envPath(s.app, s.env, `/users/${encodeURIComponent(u.id)}`), body);
      setItems(items.map((x) => (x.id === u.id ? out : x)));
      setNotice(`Saved ${u.email || u.id}.`);
    });

  return (
    <>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          load();
        }}
      >
        <Field label="Search (id or email prefix)" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        <Field label="Role" value={role} onInput={(e) => setRole(e.currentTarget.value)} />
        <Select label="State" value={disabled} options={[['', 'any'], ['false', 'enabled'], ['true', 'disabled']]} onChange={(e) => setDisabled(e.currentTarget.value)} />
        <button type="submit">Search</button>
      </form>
      <Alert error={error} />
      <Notice text={notice} />
      {items.length === 0 ? (
        <p class="empty-state">No users match.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Roles</th>
              <th scope="col">State</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {items.map((u) => (
              <UserRow u={u} onPatch={(b) => patch(u, b)} />
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <button type="button" onClick={() => load(true)}>
          More
        </button>
      )}
    </>
  );
}

function UserRow({ u, onPatch }: { u: User; onPatch: (b: { roles?: string[]; disabled?: boolean }) => void }) {
  const [roles, setRoles] = useState(u.roles.join(', '));
  const who = u.email || (u.anonymous ? `anonymous ${u.id}` : u.id);
  return (
    <tr>
      <td>
        {who}
        <br />
        <small class="muted">{u.id}</small>
      </td>
      <td>
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            onPatch({ roles: roles.split(',').map((r) => r.trim()).filter(Boolean) });
          }}
        >
          <Field label={`Roles of ${who}`} value={roles} onInput={(e) => setRoles(e.currentTarget.value)} />
          <button type="submit" class="small">
            Save roles
          </button>
        </form>
      </td>
      <td>
        {u.disabled ? 'disabled' : 'enabled'}{' '}
        <button type="button" class="small" onClick={() => onPatch({ disabled: !u.disabled })}>
          {u.disabled ? 'Enable' : 'Disable'}
        </button>
      </td>
      <td>{when(u.createdAt)}</td>
    </tr>
  );
}
