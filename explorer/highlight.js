// Syntax highlighting of a contract's JavaScript source: a small tokenizer (comments,
// strings, template literals, numbers, keywords, identifiers, punctuation) that
// returns escaped HTML with one <span class="tok-…"> per token. It never evaluates
// the source; text it does not recognise is escaped as plain text.

const KEYWORDS = new Set(('await async break case catch class const continue debugger default delete do else export extends ' +
  'false finally for from function if import in instanceof let new null of return static super switch this throw true try ' +
  'typeof undefined var void while with yield').split(' '))

const RULES = [
  ['comment', /\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$)/y],
  ['string', /'(?:[^'\\\n]|\\.)*'?|"(?:[^"\\\n]|\\.)*"?|`(?:[^`\\]|\\[\s\S])*`?/y],
  ['number', /\b(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?n?)\b/y],
  ['word', /[A-Za-z_$][\w$]*/y],
  ['space', /\s+/y],
  ['punct', /[^\sA-Za-z_$0-9'"`/]+|\//y]
]

export function escapeHtml (s) {
  return String(s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])
}

/** The source as highlighted HTML. */
export function highlight (source) {
  let out = ''
  let i = 0
  while (i < source.length) {
    let matched = false
    for (const [kind, re] of RULES) {
      re.lastIndex = i
      const m = re.exec(source)
      if (m === null || m[0].length === 0) continue
      const text = m[0]
      const cls = kind === 'word' ? (KEYWORDS.has(text) ? 'keyword' : 'ident') : kind
      out += cls === 'space' || cls === 'ident' ? escapeHtml(text) : `<span class="tok-${cls}">${escapeHtml(text)}</span>`
      i += text.length
      matched = true
      break
    }
    if (!matched) { out += escapeHtml(source[i]); i++ }
  }
  return out
}
