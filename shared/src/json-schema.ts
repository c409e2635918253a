/**
 * A JSON Schema view of an Avro record schema, for API descriptions (OpenAPI), so the HTTP
 * documentation is derived from the Avro schema rather than written a second time.
 */
import { primitiveType, type AvroRecordSchema } from './schema.ts'

const JSON_TYPES: Record<string, string> = {
  string: 'string',
  long: 'integer',
  int: 'integer',
  double: 'number',
  float: 'number',
  boolean: 'boolean',
}

export function recordJsonSchema(avroSchema: AvroRecordSchema): Record<string, unknown> {
  const properties: Record<string, unknown> = {}
  for (const field of avroSchema.fields) {
    properties[field.name] = { type: JSON_TYPES[primitiveType(field)] ?? 'string', description: field.doc }
  }
  return {
    type: 'object',
    description: avroSchema.doc,
    required: avroSchema.fields.map((f) => f.name),
    additionalProperties: false,
    properties,
  }
}
