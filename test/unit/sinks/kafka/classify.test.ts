import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import kafkajs from 'kafkajs'
import { SinkError } from '../../../../pipeline/errors.js'
import { classify } from '../../../../sinks/kafka/sink.js'

// kafkajs is CommonJS: its error classes are properties of the default export.
const { KafkaJSConnectionError, KafkaJSProtocolError } = kafkajs
// Its typings omit the constructor's options argument, which kafkajs's retrier passes.
const KafkaJSNonRetriableError = kafkajs.KafkaJSNonRetriableError as unknown as new (
  e: Error,
  opts: { cause: Error },
) => Error & { retriable: boolean }

describe('kafka sink error classification', () => {
  it('a refused connection wrapped by kafkajs after its retries stays retriable', () => {
    // As kafkajs's retrier gives up: new KafkaJSNonRetriableError(e, { cause: e.cause || e }).
    const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED')
    const wrapped = new KafkaJSNonRetriableError(refused, { cause: refused })
    assert.equal(wrapped.retriable, false)
    const e = classify(wrapped)
    assert.equal(e.code, 'KAFKA_SEND_FAILED')
    assert.equal(e.retriable, true)
  })

  it('a permanent broker error (record too large) is not retriable', () => {
    const tooLarge = new KafkaJSProtocolError({
      type: 'MESSAGE_TOO_LARGE',
      code: 10,
      retriable: false,
      message: 'The request included a message larger than the max message size the server will accept',
    } as never)
    assert.equal(classify(new KafkaJSNonRetriableError(tooLarge, { cause: tooLarge })).retriable, false)
    assert.equal(classify(tooLarge).retriable, false)
  })

  it('Sluice errors keep their own code and flag', () => {
    const own = new SinkError('KAFKA_SCHEMA_INCOMPATIBLE', 'x')
    assert.equal(classify(own), own)
  })
})
