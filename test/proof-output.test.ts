// A verdict shows only what it checked (issue 32): a fraud proof's `details.description`
// and `details.data` are text anyone can edit. For every golden fixture (one tampered
// database per fraud code), every text field of the saved proof is edited in turn:
// either the check refuses the proof, or nothing of the edit reaches the result object
// of verifyFraudProof (what `vitra proof verify --json` and the explorer print). The
// CLI's human and JSON output are checked on the issue's own example.
import test from 'brittle'
import { writeFileSync } from 'fs'
import { join } from 'path'
import Corestore from 'corestore'
import { ContractFraudProof, verifyFraudProof, verifyIndex } from '../src/index.js'
import { checkFraudProofEnvelope, fraudStatement } from '../src/proofs/index.js'
import { FIXTURES, buildFixture } from './fixtures/fraud-fixtures.js'
import { clone } from './proof-helpers.js'
import { runVitra } from './helpers.js'

const MARK = '/bank/balance'

async function fixtureProof (code: string, dir: string): Promise<Record<string, any>> {
  await buildFixture(code, dir)
  const store = new Corestore(join(dir, 'corestore'))
  try {
    const index = store.get({ name: 'index' })
    await index.ready()
    try {
      await verifyIndex({ index, openOplog: async hex => store.get({ key: Buffer.from(hex, 'hex') }) })
    } catch (err) {
      if (err instanceof ContractFraudProof) return clone(err.toJSON()) as Record<string, any>
      throw err
    }
    throw new Error(`fixture ${code} verified`)
  } finally {
    await store.close()
  }
}

/** Every path to a string (or number) inside `details`, except `code` (an enum checked against the list) and `seq` (checked). */
function textFields (o: unknown, path: string[] = []): string[][] {
  if (typeof o === 'string' || typeof o === 'number') return [path]
  if (o === null || typeof o !== 'object') return []
  return Object.entries(o).flatMap(([k, v]) => textFields(v, [...path, k]))
}

function setAt (o: Record<string, any>, path: string[], value: unknown): void {
  let x = o
  for (const k of path.slice(0, -1)) x = x[k]
  x[path[path.length - 1]] = value
}

test('proof output - every text field of every fraud code\'s proof, edited: refused, or absent from the result', { timeout: 240_000 }, async t => {
  let edits = 0
  let refused = 0
  for (const code of Object.keys(FIXTURES)) {
    const json = await fixtureProof(code, join(await t.tmp(), code))
    const honest = await verifyFraudProof(json)
    t.ok(!JSON.stringify(honest).includes(MARK), `${code}: ${honest.statement}`)
    const fields = textFields(json.details).filter(p => p[0] !== 'code' && p[0] !== 'seq')
    fields.push(['data', 'path']) // a field the proof may not have at all
    for (const path of fields) {
      const edited = clone(json)
      setAt(edited.details, path, MARK)
      edits++
      let shown: string
      try {
        shown = JSON.stringify(await verifyFraudProof(edited))
      } catch {
        refused++
        continue // caught: the field is checked
      }
      if (shown.includes(MARK)) t.fail(`${code}: details.${path.join('.')} edited shows in the result: ${shown}`)
    }
    // the browser's check (the explorer) builds its sentence from the envelope alone
    const env = checkFraudProofEnvelope({ ...clone(json), details: { ...json.details, description: MARK } })
    t.absent(fraudStatement(env.code, env.proven, env.selfEvident).includes(MARK), `${code}: the envelope's statement`)
  }
  t.comment(`${edits} edits over ${Object.keys(FIXTURES).length} codes: ${refused} refused, the rest shown without the edit`)
  t.ok(edits > 30, 'many fields edited')
})

test('proof output - vitra proof verify prints the checked write, not the edited description', { timeout: 60_000 }, async t => {
  const dir = await t.tmp()
  const json = await fixtureProof('UNPROMPTED_CHANGE', join(dir, 'db'))
  const edited = clone(json)
  edited.details.description = `Write to ${MARK} that no op explains`
  edited.details.data = { ...edited.details.data, path: MARK, key: MARK }
  const file = join(dir, 'edited.json')
  writeFileSync(file, JSON.stringify(edited))
  const human = await runVitra(['proof', 'verify', file])
  t.is(human.code, 0, 'the evidence still checks')
  t.absent(human.stdout.includes(MARK), `the edited text is not printed:\n${human.stdout}`)
  t.ok(/Valid fraud proof: UNPROMPTED_CHANGE at index seq \d+/.test(human.stdout), 'the code and the proven seq')
  t.ok(/Write to \/counter at index seq \d+ that no op explains/.test(human.stdout), 'the write the entry proof proves')
  const asJson = await runVitra(['proof', 'verify', file, '--json'])
  t.is(asJson.code, 0)
  t.absent(asJson.stdout.includes(MARK), '--json carries no edited text either')
  const out = JSON.parse(asJson.stdout) as { proven: { entry: { path: string } }, seq: number }
  t.is(out.proven.entry.path, '/counter', '--json: the proven entry')
  t.is(out.seq, json.details.seq)

  const seqEdited = clone(json)
  seqEdited.details.seq += 1
  writeFileSync(file, JSON.stringify(seqEdited))
  t.is((await runVitra(['proof', 'verify', file])).code, 1, 'an edited seq is refused')
})
