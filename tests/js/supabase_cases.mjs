// @supabase/supabase-js through a Flux Service URL (path form) with a project JWT.
// Usage: node supabase_cases.mjs <service url> <project JWT>
// The client is created as an app would create it (default schema option, "public").
import { createClient } from '@supabase/supabase-js';
import ws from 'ws';
import { runCases } from './cases.mjs';

const [url, token] = process.argv.slice(2);
const supabase = createClient(url, token, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: ws }, // Node 20 has no global WebSocket
});
const notes = () => supabase.from('notes');

await runCases({
  select_only_own_rows: () => notes().select('body').order('id'),
  insert_returning: () =>
    notes().insert([{ body: 'first' }, { body: 'second' }]).select('body,owner_id'),
  update_returning: () => notes().update({ done: true }).eq('body', 'first').select('body,done'),
  delete_returning: () => notes().delete().eq('body', 'second').select('body'),
  select_after_writes: () => notes().select('body,done').order('id'),
  count_head: () => notes().select('*', { count: 'exact', head: true }),
  rpc_post: () => supabase.rpc('add_numbers', { a: 2, b: 3 }),
  rpc_get: () => supabase.rpc('add_numbers', { a: 20, b: 22 }, { get: true }),
  rpc_sees_own_rows: () => supabase.rpc('note_count'),
});
