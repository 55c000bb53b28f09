/**
 * The Yoga example's data: an in-memory store (one per server instance, so tests and demos never share state) and
 * the model types codegen maps GraphQL types to (codegen.ts `mappers`).
 */

export interface UserModel {
  id: string
  email: string
  createdAt: string
}

export interface PostModel {
  id: string
  title: string
  body: string
}

/** The parent of every `AdminQuery` field: the admin area has no data of its own. */
export interface AdminArea {
  readonly area: 'admin'
}

/** Everything the example's resolvers read and write. */
export interface ExampleStore {
  readonly users: UserModel[]
  readonly posts: PostModel[]
  /** Contact messages accepted by `sendContactMessage`. */
  readonly contactMessages: { email: string; message: string }[]
  /** Sessions issued by `login`. */
  readonly sessions: { token: string; userId: string }[]
}

/** A fresh store with two posts and one user. */
export function createExampleStore(): ExampleStore {
  return {
    users: [{ id: '1', email: 'ada@example.com', createdAt: '2024-01-01T00:00:00.000Z' }],
    posts: [
      { id: 'p1', title: 'Score globally, enforce locally', body: 'One resolver, policies where the API is defined.' },
      { id: 'p2', title: 'Async scoring', body: 'Public operations never wait for a lookup.' },
    ],
    contactMessages: [],
    sessions: [],
  }
}
