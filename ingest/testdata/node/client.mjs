// Sends identify, track, page, alias and group through @segment/analytics-node
// to the Cohort server at COHORT_URL with the write key COHORT_WRITE_KEY,
// then flushes and exits non-zero on any delivery error.
import { Analytics } from '@segment/analytics-node'

const host = process.env.COHORT_URL
const writeKey = process.env.COHORT_WRITE_KEY
if (!host || !writeKey) {
  console.error('COHORT_URL and COHORT_WRITE_KEY are required')
  process.exit(2)
}

const analytics = new Analytics({ writeKey, host, path: '/v1/batch', flushAt: 5, flushInterval: 50, maxRetries: 3 })
const errors = []
analytics.on('error', (err) => errors.push(err))

analytics.identify({ userId: 'node-1', anonymousId: 'anon-node', traits: { email: 'node@example.com', name: 'Noddy', plan: 'free' } })
analytics.track({ anonymousId: 'anon-node', event: 'Item Purchased', properties: { price: 19.5, qty: 2 } })
analytics.page({ userId: 'node-1', name: 'Docs', category: 'Help', properties: { url: 'https://example.com/docs' } })
analytics.alias({ previousId: 'anon-node-old', userId: 'node-1' })
analytics.group({ userId: 'node-1', groupId: 'org-node', traits: { name: 'Node Inc', employees: 5 } })

await analytics.closeAndFlush({ timeout: 10000 })
if (errors.length > 0) {
  console.error('delivery errors:', errors)
  process.exit(1)
}
console.log('sent 5 messages')
