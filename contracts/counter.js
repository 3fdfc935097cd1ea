// counter.js: one number, increased by ops.
// Methods: get() reads the value; increment({ amount }) emits an INCREMENT op
// (amount defaults to 1). The executor applies INCREMENT to the path /counter.
import { index } from 'contract'
import assert from 'assert'

export async function get () {
  return (await index.get('/counter'))?.value ?? 0
}

export function increment (params, emit) {
  const amount = params?.amount ?? 1
  assert(Number.isSafeInteger(amount), 'amount must be an integer')
  emit({ op: 'INCREMENT', amount })
}

export const apply = {
  async INCREMENT (tx, op) {
    assert(Number.isSafeInteger(op.amount), 'amount must be an integer')
    const current = (await index.get('/counter'))?.value ?? 0
    tx.put('/counter', current + op.amount)
  }
}
