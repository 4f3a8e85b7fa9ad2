#!/usr/bin/env python3
"""Wire tests of courier::mongo against MockupDB (Debian's python3-mockupdb).

Each case starts a MockupDB server and the courier_mongo_wire_probe program
(path in $COURIER_MONGO_WIRE_PROBE), which opens a MessageStore on the mock
and performs one call; the case plays the server: it asserts each command the
adapter sends and answers it, then checks what the probe printed.

    python3 mongo_wire_test.py --list        # the case names, one per line
    python3 mongo_wire_test.py CASE [CASE..] # run cases (all when none given)
"""
import os
import socket
import subprocess
import sys
import time
import unittest

from mockupdb import MockupDB, OpMsg

HELLO = {
    'ismaster': True,
    'minWireVersion': 0,
    'maxWireVersion': 13,  # MongoDB 5.0
    'maxBsonObjectSize': 16 * 1024 * 1024,
    'maxMessageSizeBytes': 48000000,
    'maxWriteBatchSize': 100000,
}
MAJORITY_JOURNAL = {'w': 'majority', 'j': True, 'wtimeout': 10000}
TIMEOUT = 120  # generous: the machine is slow and shared


def cursor(coll, docs):
    return {'cursor': {'id': 0, 'ns': 'courier.' + coll, 'firstBatch': docs}}


def head_doc(user, head, maxc=0, **cursors):
    """An inbox_heads document: `user`'s head, its highest cursor and each
    device's cursor (device=cursor)."""
    return {'_id': user, 'head': head, 'maxc': maxc,
            'dev': [{'d': d, 'c': c} for d, c in cursors.items()]}


class Probe:
    """The probe program running one store call against `uri`."""

    def __init__(self, uri, *args, flags=()):
        probe = os.environ.get('COURIER_MONGO_WIRE_PROBE')
        if not probe:
            raise RuntimeError('COURIER_MONGO_WIRE_PROBE is not set')
        self.proc = subprocess.Popen(
            [probe, *flags, uri, *[str(a) for a in args]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self):
        """Waits for the probe; returns (exit code, stdout lines)."""
        out, err = self.proc.communicate(timeout=TIMEOUT)
        sys.stderr.write(err)
        return self.proc.returncode, out.strip().splitlines()


class WireTest(unittest.TestCase):
    def setUp(self):
        self.server = MockupDB(auto_ismaster=HELLO, request_timeout=TIMEOUT)
        self.server.run()
        self.probe = None

    def tearDown(self):
        if self.probe and self.probe.proc.poll() is None:
            self.probe.proc.kill()
            self.probe.proc.wait()
        self.server.stop()

    def start(self, *args, indexes=True, flags=()):
        if indexes:
            self.server.autoresponds(
                lambda r: r.command_name == 'createIndexes' and r.ok())
        self.probe = Probe(self.server.uri, *args, flags=flags)

    def expect(self, command, coll):
        return self.server.receives(OpMsg(command, coll), timeout=TIMEOUT)

    def answer_find(self, coll, docs):
        """Expects a find in `coll` and answers it with `docs`."""
        self.expect('find', coll).ok(cursor(coll, docs))

    def assert_output(self, lines):
        """The probe exits 0 having printed exactly `lines`."""
        self.assertEqual(self.probe.finish(), (0, lines))

    def assert_failed(self, prefix):
        """The probe exits 1 (the call failed) with a first line that starts
        with `prefix`; returns that line."""
        code, lines = self.probe.finish()
        self.assertEqual(code, 1, lines)
        self.assertTrue(lines[0].startswith(prefix), lines)
        return lines[0]

    def no_more_writes(self):
        for name in ('insert', 'update', 'delete', 'findAndModify'):
            self.assertFalse(self.server.got(OpMsg(name), timeout=0),
                             'unexpected ' + name)

    # --- open

    def test_open_creates_the_unique_indexes(self):
        self.start('open', indexes=False)
        # One command per collection, in collection-name order.
        members = self.expect('createIndexes', 'group_members')
        specs = {i['name']: i for i in members['indexes']}
        self.assertEqual(specs['u_1']['key'], {'u': 1})
        self.assertFalse(specs['u_1'].get('unique', False))
        members.ok()
        events = self.expect('createIndexes', 'inbox_events')
        self.assertEqual(events['writeConcern'], MAJORITY_JOURNAL)
        specs = {i['name']: i for i in events['indexes']}
        self.assertEqual(specs['u_1_s_1']['key'], {'u': 1, 's': 1})
        self.assertTrue(specs['u_1_s_1']['unique'])
        events.ok()
        messages = self.expect('createIndexes', 'messages')
        specs = {i['name']: i for i in messages['indexes']}
        self.assertEqual(specs['snd_1_cid_1']['key'], {'snd': 1, 'cid': 1})
        self.assertTrue(specs['snd_1_cid_1']['unique'])
        messages.ok()
        self.assert_output(['OK open'])

    # --- append

    def test_append_claims_the_cid_then_takes_the_seq_from_the_counter(self):
        # A standalone server (no transactions): the (sender, cid) is claimed
        # with s = -1 before the seq is taken, so a lost race leaves no gap.
        self.start('append', 'alice', 'c1', 'bob', 'm1', 'hello', 1000, 100)
        dup = self.expect('find', 'messages')
        self.assertEqual(dup['filter'], {'$or': [{'snd': 'alice', 'cid': b'c1'},
                                                 {'_id': {'$in': ['m1', 'm1/bob']}}]})
        dup.ok(cursor('messages', []))
        head = self.expect('find', 'inbox_heads')
        self.assertEqual(head['filter'], {'_id': {'$in': ['bob']}})
        head.ok(cursor('inbox_heads', [head_doc('bob', 41, maxc=40)]))
        claim = self.expect('insert', 'messages')
        self.assertEqual(claim['writeConcern'], MAJORITY_JOURNAL)
        self.assertFalse(claim['ordered'])  # one command for the batch's claims
        doc = dict(claim['documents'][0])
        claimed_at = doc.pop('pt')
        self.assertEqual(doc, {'_id': 'm1', 'r': 'bob', 'snd': 'alice', 'cid': b'c1',
                               't': 1000, 'st': 0, 's': -1})
        claim.ok({'n': 1})
        counter = self.expect('findAndModify', 'inbox_heads')
        self.assertEqual(counter['query'], {'_id': 'bob'})
        self.assertEqual(counter['update']['$inc'], {'head': 1})
        self.assertTrue(counter['upsert'])
        self.assertTrue(counter['new'])
        self.assertEqual(counter['writeConcern'], MAJORITY_JOURNAL)
        counter.ok({'value': head_doc('bob', 42, maxc=40)})
        stored = self.expect('update', 'messages')
        self.assertEqual(stored['updates'][0]['q'], {'_id': 'm1', 'pt': claimed_at})
        self.assertEqual(stored['updates'][0]['u'], {'$set': {'s': 42}, '$unset': {'pt': ''}})
        stored.ok({'n': 1, 'nModified': 1})
        event = self.expect('insert', 'inbox_events')
        self.assertEqual(event['writeConcern'], MAJORITY_JOURNAL)
        doc = dict(event['documents'][0])
        doc.pop('_id')
        self.assertEqual(doc, {'u': 'bob', 's': 42, 'k': 1, 'm': 'm1', 'p': 'alice',
                               'b': b'hello', 'st': 0, 't': 1000})
        event.ok({'n': 1})
        code, lines = self.probe.finish()
        self.assertEqual(code, 0)
        self.assertEqual(lines[0], 'OK append id=m1 seq=42 ts=1000 duplicate=0')
        self.assertEqual(lines[1], 'APPENDED user=bob seq=42 kind=1 id=m1 peer=alice status=0')

    def test_append_of_a_known_cid_returns_the_first_and_writes_nothing(self):
        self.start('append', 'alice', 'c1', 'bob', 'm2', 'again', 2000, 100)
        self.answer_find('messages', [
            {'_id': 'm1', 'r': 'bob', 'snd': 'alice', 'cid': b'c1', 's': 7, 't': 1000,
             'st': 0}])
        self.assert_output(['OK append id=m1 seq=7 ts=1000 duplicate=1'])
        self.no_more_writes()

    def test_duplicate_key_on_sender_cid_takes_the_idempotent_path(self):
        # Another server stores (alice, c1) between our check and our claim.
        self.start('append', 'alice', 'c1', 'bob', 'm2', 'hello', 2000, 100)
        self.answer_find('messages', [])
        self.answer_find('inbox_heads', [])
        self.expect('insert', 'messages').ok({
            'n': 0, 'writeErrors': [{
                'index': 0, 'code': 11000,
                'errmsg': 'E11000 duplicate key error collection: courier.messages '
                          'index: snd_1_cid_1 dup key: { snd: "alice", cid: BinData(0, 6331) }'}]})
        # The answer is the first append's; no seq was taken.
        first = self.expect('find', 'messages')
        self.assertEqual(first['filter'], {'snd': 'alice', 'cid': b'c1'})
        first.ok(cursor('messages', [{'_id': 'm1', 'r': 'bob', 'snd': 'alice', 'cid': b'c1',
                                      's': 7, 't': 1000, 'st': 0}]))
        self.assert_output(['OK append id=m1 seq=7 ts=1000 duplicate=1'])
        self.no_more_writes()

    def test_full_queue_is_resource_exhausted_and_writes_nothing(self):
        self.start('append', 'alice', 'c9', 'bob', 'm9', 'hello', 1000, 3)
        self.answer_find('messages', [])
        self.answer_find('inbox_heads', [head_doc('bob', 5, maxc=2, phone=2)])
        self.assert_failed('ERROR RESOURCE_EXHAUSTED: queue_full')
        self.no_more_writes()

    # --- read range

    def test_fetch_reads_a_range_sorted_by_seq(self):
        self.start('fetch', 'bob', 3, 2)
        find = self.expect('find', 'inbox_events')
        self.assertEqual(find['filter'], {'u': 'bob', 's': {'$gt': 3}})
        self.assertEqual(find['sort'], {'s': 1})
        self.assertEqual(find['limit'], 2)
        find.ok(cursor('inbox_events', [
            {'u': 'bob', 's': 4, 'k': 1, 'm': 'm4', 'p': 'alice', 'b': b'hi', 'st': 0, 't': 10},
            {'u': 'bob', 's': 5, 'k': 2, 'm': 'm0', 'p': 'carol', 'b': b'', 'st': 1, 't': 11}]))
        self.assert_output([
            'OK fetch count=2',
            'EVENT seq=4 kind=1 id=m4 peer=alice body=hi status=0 ts=10',
            'EVENT seq=5 kind=2 id=m0 peer=carol body= status=1 ts=11'])

    # --- ack and read

    def test_ack_moves_the_cursor_and_writes_one_receipt_per_message(self):
        self.start('ack', 'bob', 'phone', 3, 5000)
        self.answer_find('inbox_heads', [head_doc('bob', 3, maxc=1, phone=1)])
        move = self.expect('update', 'inbox_heads')
        self.assertEqual(move['updates'][0]['q'], {'_id': 'bob'})
        self.assertEqual(move['updates'][0]['u'], {'$max': {'dev.$[x].c': 3, 'maxc': 3}})
        self.assertEqual(move['updates'][0]['arrayFilters'], [{'x.d': 'phone'}])
        move.ok({'n': 1, 'nModified': 1})
        covered = self.expect('find', 'messages')
        self.assertEqual(covered['filter'], {'r': 'bob', 'st': 0, 's': {'$gte': 1, '$lte': 3}})
        self.assertEqual(covered['sort'], {'s': 1})
        covered.ok(cursor('messages', [{'_id': 'm2', 'snd': 'alice'},
                                       {'_id': 'm3', 'snd': 'carol'}]))
        for mid in ('m2', 'm3'):
            delivered = self.expect('update', 'messages')
            self.assertEqual(delivered['updates'][0]['q'], {'_id': mid, 'st': 0})
            self.assertEqual(delivered['updates'][0]['u'], {'$set': {'st': 1}})
            delivered.ok({'n': 1, 'nModified': 1})
        for sender, head in (('alice', 10), ('carol', 4)):
            counter = self.expect('findAndModify', 'inbox_heads')
            self.assertEqual(counter['query'], {'_id': sender})
            self.assertEqual(counter['update']['$inc'], {'head': 1})
            counter.ok({'value': head_doc(sender, head)})
        receipts = self.expect('insert', 'inbox_events')
        docs = [dict(d) for d in receipts['documents']]
        for d in docs:
            d.pop('_id')
        self.assertEqual(docs, [
            {'u': 'alice', 's': 10, 'k': 2, 'm': 'm2', 'p': 'bob', 'b': b'', 'st': 1, 't': 5000},
            {'u': 'carol', 's': 4, 'k': 2, 'm': 'm3', 'p': 'bob', 'b': b'', 'st': 1, 't': 5000}])
        receipts.ok({'n': 2})
        self.assert_output([
            'OK ack cursor=3',
            'APPENDED user=alice seq=10 kind=2 id=m2 peer=bob status=1',
            'APPENDED user=carol seq=4 kind=2 id=m3 peer=bob status=1'])

    def test_ack_beyond_the_head_is_out_of_range_and_writes_nothing(self):
        self.start('ack', 'bob', 'phone', 9, 5000)
        self.answer_find('inbox_heads', [head_doc('bob', 3)])
        self.assert_failed('ERROR OUT_OF_RANGE')
        self.no_more_writes()

    def test_read_of_a_sent_message_writes_delivered_then_read(self):
        self.start('read', 'bob', 6000, 'm1')
        find = self.expect('find', 'messages')
        # A 1:1 message or bob's group copy (issue 17).
        self.assertEqual(find['filter'], {'_id': {'$in': ['m1', 'm1/bob']}, 'r': 'bob'})
        find.ok(cursor('messages', [{'_id': 'm1', 'r': 'bob', 'snd': 'alice', 's': 3, 'st': 0}]))
        mark = self.expect('update', 'messages')
        self.assertEqual(mark['updates'][0]['q'], {'_id': 'm1', 'st': 0})
        self.assertEqual(mark['updates'][0]['u'], {'$set': {'st': 2}})
        mark.ok({'n': 1, 'nModified': 1})
        counter = self.expect('findAndModify', 'inbox_heads')
        self.assertEqual(counter['update']['$inc'], {'head': 2})  # one $inc for both receipts
        counter.ok({'value': head_doc('alice', 12)})
        receipts = self.expect('insert', 'inbox_events')
        self.assertEqual([(d['s'], d['st']) for d in receipts['documents']], [(11, 1), (12, 2)])
        receipts.ok({'n': 2})
        self.assert_output([
            'OK read',
            'APPENDED user=alice seq=11 kind=2 id=m1 peer=bob status=1',
            'APPENDED user=alice seq=12 kind=2 id=m1 peer=bob status=2'])

    # --- token revocation (AccountStore, issue 15)

    def test_token_state_reads_the_user_then_its_token_document(self):
        self.start('tokens', 'alice')
        users = self.expect('find', 'users')
        self.assertEqual(users['filter'], {'_id': 'alice'})
        users.ok(cursor('users', [{'_id': 'alice', 'h': b'hash', 'created': 1}]))
        state = self.expect('find', 'token_state')
        self.assertEqual(state['filter'], {'_id': 'alice'})
        state.ok(cursor('token_state', [{'_id': 'alice', 'g': 3, 'r': {'zz': True, 'ab': True}}]))
        self.assert_output(['OK tokens generation=3 revoked=ab,zz'])
        self.no_more_writes()

    def test_token_state_of_an_unknown_user_is_not_found(self):
        self.start('tokens', 'ghost')
        self.answer_find('users', [])
        self.assert_failed('ERROR NOT_FOUND')
        self.assertFalse(self.server.got(OpMsg('find', 'token_state'), timeout=0))

    def test_bump_is_one_atomic_upserting_find_and_modify(self):
        self.start('bump', 'alice')
        self.answer_find('users', [{'_id': 'alice'}])
        fam = self.expect('findAndModify', 'token_state')
        self.assertEqual(fam['query'], {'_id': 'alice'})
        self.assertEqual(fam['update'], {'$inc': {'g': 1}, '$set': {'r': {}}})
        self.assertTrue(fam['upsert'])
        self.assertTrue(fam['new'])
        fam.ok(value={'_id': 'alice', 'g': 4, 'r': {}},
               lastErrorObject={'n': 1, 'updatedExisting': True})
        self.assert_output(['OK bump generation=4'])

    def test_revoke_sets_one_field_of_r_with_an_upsert(self):
        self.start('revoke', 'alice', 'tok-1_A')
        self.answer_find('users', [{'_id': 'alice'}])
        upd = self.expect('update', 'token_state')
        self.assertEqual(len(upd['updates']), 1)
        u = upd['updates'][0]
        self.assertEqual(u['q'], {'_id': 'alice'})
        self.assertEqual(u['u'], {'$set': {'r.tok-1_A': True}})
        self.assertTrue(u['upsert'])
        upd.ok(n=1, nModified=0, upserted=[{'index': 0, '_id': 'alice'}])
        self.assert_output(['OK revoke'])

    def test_revoke_refuses_an_id_that_could_be_a_field_path(self):
        self.start('revoke', 'alice', 'a.b')
        self.assert_failed('ERROR INVALID_ARGUMENT')
        self.no_more_writes()

    def test_set_password_hash_updates_the_user_document(self):
        self.start('setpw', 'alice', 'new-hash')
        upd = self.expect('update', 'users')
        u = upd['updates'][0]
        self.assertEqual(u['q'], {'_id': 'alice'})
        self.assertEqual(list(u['u'].keys()), ['$set'])
        self.assertEqual(bytes(u['u']['$set']['h']), b'new-hash')
        self.assertFalse(u.get('upsert', False))
        upd.ok(n=1, nModified=1)
        self.assert_output(['OK setpw'])

    # --- errors and timeouts

    def test_server_error_replies_map_to_statuses(self):
        self.start('head', 'bob')
        self.expect('find', 'inbox_heads').command_err(
            code=13, errmsg='not authorized on courier to execute command')
        self.assert_failed('ERROR PERMISSION_DENIED: mongo: find in '
                           'inbox_heads: not authorized')

    def test_write_concern_timeout_is_deadline_exceeded(self):
        self.start('append', 'alice', 'c1', 'bob', 'm1', 'hello', 1000, 100)
        self.answer_find('messages', [])
        self.answer_find('inbox_heads', [])
        self.expect('insert', 'messages').ok({
            'n': 1, 'writeConcernError': {'code': 64, 'errmsg': 'waiting for replication timed out'}})
        first = self.assert_failed('ERROR DEADLINE_EXCEEDED')
        self.assertIn('waiting for replication timed out', first)

    def test_not_primary_is_unavailable(self):
        # The driver may retry a read once (retryable reads): answer every try.
        self.server.autoresponds(
            lambda r: r.matches(OpMsg('find', 'messages')) and
            r.command_err(code=10107, errmsg='not primary'))
        self.start('append', 'alice', 'c1', 'bob', 'm1', 'hello', 1000, 100)
        self.assert_failed('ERROR UNAVAILABLE')

    def test_a_silent_server_fails_within_the_socket_timeout(self):
        started = time.monotonic()
        self.start('head', 'bob', flags=('--socket-timeout-ms', '1000'))
        self.expect('find', 'inbox_heads')  # ...and never answered
        code, lines = self.probe.finish()
        self.assertEqual(code, 1)
        self.assertRegex(lines[0], r'^ERROR (DEADLINE_EXCEEDED|UNAVAILABLE): ')
        self.assertLess(time.monotonic() - started, TIMEOUT)

    def test_an_unreachable_server_is_unavailable(self):
        with socket.socket() as s:  # a port nobody listens on
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        probe = Probe('mongodb://127.0.0.1:%d/' % port, 'ping',
                      flags=('--server-selection-timeout-ms', '1000'))
        code, lines = probe.finish()
        self.assertEqual(code, 2)
        self.assertTrue(lines[0].startswith('ERROR UNAVAILABLE: mongo: select server'), lines)


if __name__ == '__main__':
    if sys.argv[1:] == ['--list']:
        for name in unittest.TestLoader().getTestCaseNames(WireTest):
            print(name)
        sys.exit(0)
    names = ['WireTest.' + n for n in sys.argv[1:]]
    unittest.main(argv=[sys.argv[0], '-v', *names])
