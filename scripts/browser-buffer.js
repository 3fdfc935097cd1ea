// Injected by scripts/build-browser.js: `Buffer` in the browser build of vitra/proofs.
export { Buffer } from 'buffer'
