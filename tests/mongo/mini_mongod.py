#!/usr/bin/env python3
"""A tiny in-memory stand-in for a standalone mongod, on MockupDB.

It speaks MongoDB's wire protocol through MockupDB (Debian's python3-mockupdb)
and implements, over Python dicts, just the subset of commands, query and
update operators that courier::mongo uses: find (filter, sort, limit),
findAndModify (upsert, new), insert / update / delete (with unique indexes,
$set $setOnInsert $inc $max $push, arrayFilters), createIndexes, ping,
dropDatabase, and the test-only miniCommandCount (how many commands ran on
the database it is sent to: the cost of a batch). Every command runs
atomically (MockupDB serializes handlers), like single-document atomicity on a standalone server; there are no
transactions, so the adapter runs in its standalone mode.

With --replset it presents itself as the primary of a one-member replica set
"rs0" with sessions, and accepts transactions (startTransaction,
commitTransaction, abortTransaction) WITHOUT isolation or rollback: that
checks the adapter's transaction command flow (session ids, transaction
numbers, commit) through the driver, not transactional semantics; suites
that make transactions abort (concurrent duplicates) need a real server.

It lets the MessageStore and AccountStore conformance suites exercise the
adapter's logic end to end on a machine without MongoDB. It is NOT a
substitute for the live run against a real replica set (see
adapters/mongo/README.md).

    python3 mini_mongod.py [--replset] --run PROGRAM [ARGS...]
        starts the server, runs PROGRAM with MONGODB_URI pointing at it, and
        exits with PROGRAM's exit code.
"""
import copy
import os
import subprocess
import sys

from bson import ObjectId
from mockupdb import MockupDB

HELLO = {
    'ismaster': True,
    'minWireVersion': 0,
    'maxWireVersion': 13,
    'maxBsonObjectSize': 16 * 1024 * 1024,
    'maxMessageSizeBytes': 48000000,
    'maxWriteBatchSize': 100000,
}
MISSING = object()


def resolve(value, parts):
    """All values at the dotted path `parts` (arrays fan out)."""
    if not parts:
        if isinstance(value, list):
            return [value] + list(value)
        return [value]
    head, rest = parts[0], parts[1:]
    if isinstance(value, dict):
        if head not in value:
            return []
        return resolve(value[head], rest)
    if isinstance(value, list):
        if head.isdigit():
            i = int(head)
            return resolve(value[i], rest) if i < len(value) else []
        out = []
        for item in value:
            if isinstance(item, dict):
                out.extend(resolve(item, parts))
        return out
    return []


def comparable(a, b):
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool):
        return True
    return type(a) is type(b) or (isinstance(a, str) and isinstance(b, str))


def op_match(values, op, arg):
    if op == '$eq':
        return any(v == arg for v in values)
    if op == '$ne':
        return not any(v == arg for v in values)
    if op == '$in':
        return any(v == a for v in values for a in arg)
    if op == '$exists':
        return bool(values) == bool(arg)
    cmp = {'$gt': lambda v: v > arg, '$gte': lambda v: v >= arg,
           '$lt': lambda v: v < arg, '$lte': lambda v: v <= arg}.get(op)
    if cmp is None:
        raise ValueError('unsupported operator ' + op)
    return any(comparable(v, arg) and cmp(v) for v in values)


def match(doc, flt):
    for key, cond in flt.items():
        if key == '$or':
            if not any(match(doc, f) for f in cond):
                return False
            continue
        if key == '$and':
            if not all(match(doc, f) for f in cond):
                return False
            continue
        values = resolve(doc, key.split('.'))
        if isinstance(cond, dict) and cond and all(k.startswith('$') for k in cond):
            if not all(op_match(values, op, arg) for op, arg in cond.items()):
                return False
        elif not any(v == cond for v in values):
            return False
    return True




class Collection:
    def __init__(self):
        self.docs = []
        self.unique = {'_id_': ('_id',)}

    def dup_key(self, doc, skip=None):
        for name, keys in self.unique.items():
            key = tuple(doc.get(k) for k in keys)
            for other in self.docs:
                if other is not skip and tuple(other.get(k) for k in keys) == key:
                    return name
        return None


class MiniMongo:
    def __init__(self, replset=False):
        self.collections = {}
        self.replset = replset
        self.commands = {}  # database -> commands run on it (miniCommandCount)
        self.server = MockupDB(request_timeout=3600)
        self.server.autoresponds(self.handle)

    @property
    def uri(self):
        if self.replset:
            return 'mongodb://localhost:%d/?replicaSet=rs0' % self.server.port
        return self.server.uri

    def coll(self, request, name):
        return self.collections.setdefault((request.namespace, name), Collection())

    # --- updates

    def apply_update(self, doc, update, array_filters, inserting):
        for op, fields in update.items():
            if op == '$setOnInsert' and not inserting:
                continue
            for path, arg in fields.items():
                self.apply_field(doc, op, path.split('.'), arg, array_filters)

    def apply_field(self, target, op, parts, arg, array_filters):
        head, rest = parts[0], parts[1:]
        if head.startswith('$[') and head.endswith(']'):
            ident = head[2:-1]
            cond = {k[len(ident) + 1:]: v for f in array_filters for k, v in f.items()
                    if k.startswith(ident + '.')}
            for item in target:
                if match(item, cond):
                    self.apply_field(item, op, rest, arg, array_filters)
            return
        if rest:
            if isinstance(target, list):
                self.apply_field(target[int(head)], op, rest, arg, array_filters)
            else:
                self.apply_field(target.setdefault(head, {}), op, rest, arg, array_filters)
            return
        old = target.get(head, MISSING)
        if op in ('$set', '$setOnInsert'):
            target[head] = copy.deepcopy(arg)
        elif op == '$inc':
            target[head] = (0 if old is MISSING else old) + arg
        elif op == '$max':
            target[head] = arg if old is MISSING or arg > old else old
        elif op == '$unset':
            target.pop(head, None)
        elif op == '$push':
            target.setdefault(head, []).append(copy.deepcopy(arg))
        else:
            raise ValueError('unsupported update ' + op)

    def upsert_doc(self, query, update, array_filters):
        doc = {k: copy.deepcopy(v) for k, v in query.items()
               if not k.startswith('$') and '.' not in k and
               not (isinstance(v, dict) and any(x.startswith('$') for x in v))}
        self.apply_update(doc, update, array_filters, inserting=True)
        doc.setdefault('_id', ObjectId())
        return doc

    def update_one_doc(self, coll, doc, update, array_filters):
        """Updates `doc` in place; returns (modified, error name or None)."""
        before = copy.deepcopy(doc)
        candidate = copy.deepcopy(doc)
        self.apply_update(candidate, update, array_filters, inserting=False)
        dup = coll.dup_key(candidate, skip=doc)
        if dup:
            return False, dup
        doc.clear()
        doc.update(candidate)
        return doc != before, None

    @staticmethod
    def dup_error(coll_name, index, i=0):
        return {'index': i, 'code': 11000,
                'errmsg': 'E11000 duplicate key error collection: %s index: %s' %
                          (coll_name, index)}

    # --- commands

    def handle(self, r):
        name = r.command_name
        if name is None:
            return False
        lname = name.lower()
        if lname in ('ismaster', 'hello'):
            hello = dict(HELLO)
            if self.replset:
                me = 'localhost:%d' % self.server.port
                hello.update(setName='rs0', hosts=[me], primary=me, me=me,
                             secondary=False, setVersion=1,
                             logicalSessionTimeoutMinutes=30)
            return r.ok(hello)
        if lname != 'minicommandcount':
            self.commands[r.namespace] = self.commands.get(r.namespace, 0) + 1
        try:
            handler = getattr(self, 'cmd_' + lname, None)
            if handler is None:
                return r.command_err(code=59, errmsg='no such command: ' + name)
            return handler(r)
        except Exception as e:  # a bug here must show, not hang the client
            return r.command_err(code=1, errmsg='mini_mongod: %r' % (e,))

    def cmd_minicommandcount(self, r):
        """Test-only: how many commands ran on this database so far."""
        return r.ok(n=self.commands.get(r.namespace, 0))

    def cmd_ping(self, r):
        return r.ok()

    def cmd_endsessions(self, r):
        return r.ok()

    def cmd_committransaction(self, r):
        return r.ok()

    def cmd_aborttransaction(self, r):
        return r.ok()

    def cmd_killcursors(self, r):
        return r.ok(cursorsKilled=[])

    def cmd_dropdatabase(self, r):
        for key in [k for k in self.collections if k[0] == r.namespace]:
            del self.collections[key]
        return r.ok()

    def cmd_createindexes(self, r):
        coll = self.coll(r, r['createIndexes'])
        for spec in r['indexes']:
            if spec.get('unique'):
                coll.unique[spec['name']] = tuple(spec['key'].keys())
        return r.ok()

    def find_docs(self, coll, flt, sort=None, limit=0):
        docs = [d for d in coll.docs if match(d, flt or {})]
        for key, direction in reversed(list((sort or {}).items())):
            docs.sort(key=lambda d: d.get(key, 0), reverse=direction < 0)
        if limit:
            docs = docs[:abs(limit)]
        return docs

    def cmd_find(self, r):
        coll = self.coll(r, r['find'])
        docs = self.find_docs(coll, r.doc.get('filter'), r.doc.get('sort'),
                              r.doc.get('limit', 0))
        return r.ok(cursor={'id': 0, 'ns': '%s.%s' % (r.namespace, r['find']),
                            'firstBatch': copy.deepcopy(docs)})

    def cmd_findandmodify(self, r):
        coll = self.coll(r, r['findAndModify'])
        query = r.doc.get('query', {})
        update = r.doc.get('update', {})
        found = self.find_docs(coll, query, r.doc.get('sort'), 1)
        if found:
            doc = found[0]
            old = copy.deepcopy(doc)
            _, dup = self.update_one_doc(coll, doc, update, r.doc.get('arrayFilters', []))
            if dup:
                return r.command_err(code=11000, errmsg=self.dup_error(
                    r['findAndModify'], dup)['errmsg'])
            value = doc if r.doc.get('new') else old
            return r.ok(value=copy.deepcopy(value),
                        lastErrorObject={'n': 1, 'updatedExisting': True})
        if not r.doc.get('upsert'):
            return r.ok(value=None, lastErrorObject={'n': 0, 'updatedExisting': False})
        doc = self.upsert_doc(query, update, r.doc.get('arrayFilters', []))
        dup = coll.dup_key(doc)
        if dup:
            return r.command_err(code=11000, errmsg=self.dup_error(r['findAndModify'], dup)['errmsg'])
        coll.docs.append(doc)
        return r.ok(value=copy.deepcopy(doc) if r.doc.get('new') else None,
                    lastErrorObject={'n': 1, 'updatedExisting': False, 'upserted': doc['_id']})

    def cmd_insert(self, r):
        coll = self.coll(r, r['insert'])
        n, errors = 0, []
        for i, doc in enumerate(r['documents']):
            doc = copy.deepcopy(dict(doc))
            doc.setdefault('_id', ObjectId())
            dup = coll.dup_key(doc)
            if dup:
                errors.append(self.dup_error(r['insert'], dup, i))
                if r.doc.get('ordered', True):
                    break
                continue
            coll.docs.append(doc)
            n += 1
        reply = {'n': n}
        if errors:
            reply['writeErrors'] = errors
        return r.ok(reply)

    def cmd_update(self, r):
        coll = self.coll(r, r['update'])
        n = modified = 0
        upserted, errors = [], []
        for i, u in enumerate(r['updates']):
            filters = u.get('arrayFilters', [])
            docs = self.find_docs(coll, u['q'], None, 0 if u.get('multi') else 1)
            if not docs and u.get('upsert'):
                doc = self.upsert_doc(u['q'], u['u'], filters)
                dup = coll.dup_key(doc)
                if dup:
                    errors.append(self.dup_error(r['update'], dup, i))
                    break
                coll.docs.append(doc)
                n += 1
                upserted.append({'index': i, '_id': doc['_id']})
                continue
            for doc in docs:
                changed, dup = self.update_one_doc(coll, doc, u['u'], filters)
                if dup:
                    errors.append(self.dup_error(r['update'], dup, i))
                    break
                n += 1
                modified += 1 if changed else 0
        reply = {'n': n, 'nModified': modified}
        if upserted:
            reply['upserted'] = upserted
        if errors:
            reply['writeErrors'] = errors
        return r.ok(reply)

    def cmd_delete(self, r):
        coll = self.coll(r, r['delete'])
        n = 0
        for d in r['deletes']:
            docs = self.find_docs(coll, d['q'], None, d.get('limit', 0))
            ids = {id(x) for x in docs}
            coll.docs = [x for x in coll.docs if id(x) not in ids]
            n += len(docs)
        return r.ok(n=n)


def main():
    args = sys.argv[1:]
    replset = args[:1] == ['--replset']
    if replset:
        args = args[1:]
    if len(args) < 2 or args[0] != '--run':
        sys.stderr.write(__doc__)
        return 2
    mongo = MiniMongo(replset)
    mongo.server.run()
    env = dict(os.environ, MONGODB_URI=mongo.uri)
    try:
        return subprocess.call(args[1:], env=env)
    finally:
        mongo.server.stop()


if __name__ == '__main__':
    sys.exit(main())
