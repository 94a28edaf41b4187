// @supabase/postgrest-js against a `flux rest` server.
// Usage: node postgrest_cases.mjs <base url> <user JWT> <read|write>
import { PostgrestClient } from '@supabase/postgrest-js';
import { runCases } from './cases.mjs';

const [url, userToken, group] = process.argv.slice(2);
const anon = new PostgrestClient(url, { schema: 'api' });
const user = new PostgrestClient(url, {
  schema: 'api',
  headers: { Authorization: `Bearer ${userToken}` },
});
const items = () => anon.from('items').select('id').order('id');

const read = {
  embed_many_to_one: () => anon.from('projects').select('id,name,clients(name)').eq('id', 1),
  embed_one_to_many: () =>
    anon
      .from('clients')
      .select('name,projects(name)')
      .eq('id', 2)
      .order('id', { referencedTable: 'projects' }),
  embed_nested_many_to_many: () =>
    anon
      .from('users')
      .select('name,tasks(name,projects(name))')
      .eq('id', 3)
      .order('id', { referencedTable: 'tasks' }),
  embed_alias_composite_fk: () =>
    anon.from('cities').select('name,country:countries(name)').eq('id', 1).single(),
  embed_inner_filtered: () =>
    anon.from('projects').select('name,clients!inner(name)').eq('clients.name', 'Apple').order('id'),
  embed_disambiguated: () =>
    anon
      .from('messages')
      .select('body,sender:users!messages_sender_fkey(name),receiver:users!messages_receiver_fkey(name)')
      .eq('id', 1),
  embed_limit: () =>
    anon
      .from('projects')
      .select('id,tasks(id)')
      .eq('id', 1)
      .order('id', { referencedTable: 'tasks', ascending: false })
      .limit(1, { referencedTable: 'tasks' }),
  json_path: () => anon.from('items').select('id,color:data->>color,w:data->size->w').eq('id', 1),
  eq: () => items().eq('name', 'banana'),
  neq: () => items().neq('id', 1),
  gt: () => items().gt('price', 1),
  gte: () => items().gte('id', 2),
  lt: () => items().lt('price', 1),
  lte: () => items().lte('id', 2),
  like: () => items().like('name', '%an%'),
  like_all_of: () => items().likeAllOf('name', ['%a%', '%n%']),
  like_any_of: () => items().likeAnyOf('name', ['a%', 'c%']),
  ilike: () => items().ilike('name', 'APP%'),
  ilike_all_of: () => items().ilikeAllOf('name', ['B%', '%NA']),
  ilike_any_of: () => items().ilikeAnyOf('name', ['APP%', 'CAR%']),
  regex_match: () => items().regexMatch('name', '^[ab]'),
  regex_imatch: () => items().regexIMatch('name', '^CAR'),
  is_null: () => items().is('price', null),
  is_true: () => items().is('active', true),
  is_distinct: () => items().isDistinct('active', true),
  in: () => items().in('name', ['apple', 'carrot']),
  not_in: () => items().notIn('id', [1, 2]),
  contains_array: () => items().contains('tags', ['fruit']),
  contains_jsonb: () => items().contains('data', { color: 'red' }),
  contained_by: () => items().containedBy('tags', ['vegetable', 'fruit', 'red']),
  overlaps: () => items().overlaps('numbers', [3, 4]),
  range_gt: () => items().rangeGt('during', '[0,6)'),
  range_gte: () => items().rangeGte('during', '[2,6)'),
  range_lt: () => items().rangeLt('during', '[6,9)'),
  range_lte: () => items().rangeLte('during', '[0,5)'),
  range_adjacent: () => items().rangeAdjacent('during', '[5,10)'),
  text_search: () => items().textSearch('doc', "'quick' & 'fox'"),
  text_search_plain: () => items().textSearch('doc', 'lazy dogs', { type: 'plain', config: 'english' }),
  text_search_phrase: () => items().textSearch('doc', 'quick brown', { type: 'phrase', config: 'english' }),
  text_search_websearch: () => items().textSearch('doc', 'quick -dogs', { type: 'websearch', config: 'english' }),
  match: () => items().match({ id: 2, name: 'banana' }),
  not: () => items().not('price', 'is', null),
  or: () => items().or('id.eq.1,name.eq.carrot'),
  or_nested_and: () => items().or('id.eq.3,and(price.gt.1,active.is.true)'),
  or_referenced_table: () =>
    anon
      .from('clients')
      .select('id,projects(id)')
      .eq('id', 1)
      .or('name.eq.Windows 10,id.eq.5', { referencedTable: 'projects' }),
  filter: () => items().filter('tags', 'cs', '{vegetable}'),
  order_desc_nulls_first: () =>
    anon.from('items').select('id').order('price', { ascending: false, nullsFirst: true }),
  order_two_keys: () =>
    anon.from('tasks').select('id').order('project_id', { ascending: false }).order('id').limit(3),
  limit: () => anon.from('tasks').select('id').order('id').limit(2),
  range: () => anon.from('tasks').select('id').order('id').range(2, 4),
  single: () => anon.from('clients').select('name').eq('id', 3).single(),
  single_many_rows: () => anon.from('clients').select('name').single(),
  maybe_single_found: () => anon.from('clients').select('name').eq('id', 2).maybeSingle(),
  maybe_single_none: () => anon.from('clients').select('name').eq('id', 99).maybeSingle(),
  count_exact_head: () => anon.from('tasks').select('*', { count: 'exact', head: true }),
  count_exact_range: () => anon.from('tasks').select('id', { count: 'exact' }).order('id').range(0, 1),
  count_planned: () => anon.from('tasks').select('id', { count: 'planned' }).limit(1),
  count_estimated: () => anon.from('tasks').select('id', { count: 'estimated' }).limit(1),
  other_schema: () => anon.schema('other').from('things').select('*'),
  jwt_row_level_security: () => user.from('documents').select('id,title').order('id'),
  anon_permission_denied: () => anon.from('documents').select('id'),
  unknown_table: () => anon.from('nope').select(),
};

const notes = () => user.from('js_notes');
const write = {
  insert_minimal: () => notes().insert({ id: 1, title: 'first' }),
  insert_many_returning: () =>
    notes().insert([{ id: 2, title: 'second' }, { id: 3, title: 'third' }]).select('id,title'),
  upsert_merge: () => notes().upsert({ id: 1, title: 'first v2' }).select('id,title'),
  upsert_ignore: () =>
    notes().upsert({ id: 1, title: 'ignored' }, { ignoreDuplicates: true }).select('id,title'),
  update_returning: () => notes().update({ done: true }).eq('id', 2).select('id,done'),
  update_no_match: () => notes().update({ done: true }).eq('id', 99),
  delete_returning: () => notes().delete().eq('id', 3).select('id'),
  insert_duplicate: () => notes().insert({ id: 1, title: 'dup' }),
  insert_not_null: () => notes().insert({ id: 9 }),
  after_writes: () => notes().select('id,title,done').order('id'),
  rpc_post: () => user.rpc('add', { a: 2, b: 3 }),
  rpc_get_default_arg: () => user.rpc('add', { a: 41 }, { get: true }),
  rpc_set_returning_filtered: () =>
    user.rpc('js_tasks_of', { p: 1 }).select('id,done').eq('done', false).order('id'),
  rpc_count: () => user.rpc('js_tasks_of', { p: 3 }, { count: 'exact' }).select('id').order('id'),
  csv: () => anon.from('clients').select('id,name').order('id').csv(),
  explain_json: () => anon.from('clients').select('id').eq('id', 1).explain({ format: 'json' }),
};

await runCases({ read, write }[group]);
