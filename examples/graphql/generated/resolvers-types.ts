import type { GraphQLResolveInfo } from 'graphql';
import type { UserModel, PostModel, AdminArea } from '../models.js';
import type { ExampleContext } from '../context.js';
export type Maybe<T> = T | null;
export type InputMaybe<T> = Maybe<T>;
export type Omit<T, K extends keyof T> = Pick<T, Exclude<keyof T, K>>;
export type RequireFields<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: NonNullable<T[P]> };
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
};

/** Account data: every field of every implementation needs a score below 80. */
export type Account = {
  email: Scalars['String']['output'];
  id: Scalars['ID']['output'];
};

/** The admin area (type-level directive: all fields are guarded). */
export type AdminQuery = {
  __typename?: 'AdminQuery';
  blockedIps: Scalars['Int']['output'];
  users: Array<User>;
};

export type ContactResult = {
  __typename?: 'ContactResult';
  accepted: Scalars['Boolean']['output'];
  message: Scalars['String']['output'];
};

/** iprisk: the built-in policy presets. */
export type IpRiskPolicy =
  /** Tor, VPN, datacenter IPs scoring over 40, or a score of 60 or more (the guide's admin protection). */
  | 'ADMIN'
  /** Block IPs scoring 90 or more (the guide's global middleware). */
  | 'BASELINE'
  /** Tor, or a score of 80 or more. */
  | 'HUMAN'
  /** Tor, datacenter IPs scoring over 60, or a score of 85 or more. */
  | 'NOT_BOT';

export type Mutation = {
  __typename?: 'Mutation';
  /** Log in: blocked at a risk score of 75 or more. */
  login: Session;
  /** The guide's contact form: not blocked; the resolver soft-rejects suspicious senders (score 70+). */
  sendContactMessage: ContactResult;
  /** Sign up: humans only (Tor exit nodes and scores of 80+ are blocked). */
  signup: User;
};


export type MutationLoginArgs = {
  email: Scalars['String']['input'];
  password: Scalars['String']['input'];
};


export type MutationSendContactMessageArgs = {
  email: Scalars['String']['input'];
  message: Scalars['String']['input'];
};


export type MutationSignupArgs = {
  email: Scalars['String']['input'];
};

export type Node = {
  id: Scalars['ID']['output'];
};

export type Post = Node & {
  __typename?: 'Post';
  body: Scalars['String']['output'];
  id: Scalars['ID']['output'];
  title: Scalars['String']['output'];
};

export type Query = {
  __typename?: 'Query';
  /** The admin area: every field of AdminQuery is guarded by the ADMIN preset. */
  admin: AdminQuery;
  /** How the server sees the caller: the risk answer in the context (public, for the demo). */
  myRisk: RiskInfo;
  /** Anything with an id (an interface: fragments on it are analysed per possible type). */
  node?: Maybe<Node>;
  /** Public content. */
  posts: Array<Post>;
  /** A user account: User implements Account, whose directive guards all of User's fields. */
  user?: Maybe<User>;
};


export type QueryNodeArgs = {
  id: Scalars['ID']['input'];
};


export type QueryUserArgs = {
  id: Scalars['ID']['input'];
};

export type RiskInfo = {
  __typename?: 'RiskInfo';
  countryCode?: Maybe<Scalars['String']['output']>;
  ip?: Maybe<Scalars['String']['output']>;
  ipKind?: Maybe<Scalars['String']['output']>;
  isDatacenter?: Maybe<Scalars['Boolean']['output']>;
  isProxy?: Maybe<Scalars['Boolean']['output']>;
  isTor?: Maybe<Scalars['Boolean']['output']>;
  isVpn?: Maybe<Scalars['Boolean']['output']>;
  score?: Maybe<Scalars['Int']['output']>;
  source: Scalars['String']['output'];
  status: Scalars['String']['output'];
};

export type Session = {
  __typename?: 'Session';
  token: Scalars['String']['output'];
  user: User;
};

export type Subscription = {
  __typename?: 'Subscription';
  /** Counts down from `from` to 0: no bots (Tor, datacenters scoring over 60, scores of 85+). */
  countdown: Scalars['Int']['output'];
};


export type SubscriptionCountdownArgs = {
  from: Scalars['Int']['input'];
};

export type User = Account & Node & {
  __typename?: 'User';
  createdAt: Scalars['String']['output'];
  email: Scalars['String']['output'];
  id: Scalars['ID']['output'];
};

export type WithIndex<TObject> = TObject & Record<string, any>;
export type ResolversObject<TObject> = WithIndex<TObject>;

export type ResolverTypeWrapper<T> = Promise<T> | T;


export type ResolverWithResolve<TResult, TParent, TContext, TArgs> = {
  resolve: ResolverFn<TResult, TParent, TContext, TArgs>;
};
export type Resolver<TResult, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>, TArgs = Record<PropertyKey, never>> = ResolverFn<TResult, TParent, TContext, TArgs> | ResolverWithResolve<TResult, TParent, TContext, TArgs>;

export type ResolverFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => Promise<TResult> | TResult;

export type SubscriptionSubscribeFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => AsyncIterable<TResult> | Promise<AsyncIterable<TResult>>;

export type SubscriptionResolveFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => TResult | Promise<TResult>;

export interface SubscriptionSubscriberObject<TResult, TKey extends string, TParent, TContext, TArgs> {
  subscribe: SubscriptionSubscribeFn<{ [key in TKey]: TResult }, TParent, TContext, TArgs>;
  resolve?: SubscriptionResolveFn<TResult, { [key in TKey]: TResult }, TContext, TArgs>;
}

export interface SubscriptionResolverObject<TResult, TParent, TContext, TArgs> {
  subscribe: SubscriptionSubscribeFn<any, TParent, TContext, TArgs>;
  resolve: SubscriptionResolveFn<TResult, any, TContext, TArgs>;
}

export type SubscriptionObject<TResult, TKey extends string, TParent, TContext, TArgs> =
  | SubscriptionSubscriberObject<TResult, TKey, TParent, TContext, TArgs>
  | SubscriptionResolverObject<TResult, TParent, TContext, TArgs>;

export type SubscriptionResolver<TResult, TKey extends string, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>, TArgs = Record<PropertyKey, never>> =
  | ((...args: any[]) => SubscriptionObject<TResult, TKey, TParent, TContext, TArgs>)
  | SubscriptionObject<TResult, TKey, TParent, TContext, TArgs>;

export type TypeResolveFn<TTypes, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>> = (
  parent: TParent,
  context: TContext,
  info: GraphQLResolveInfo
) => Maybe<TTypes> | Promise<Maybe<TTypes>>;

export type IsTypeOfResolverFn<T = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>> = (obj: T, context: TContext, info: GraphQLResolveInfo) => boolean | Promise<boolean>;

export type NextResolverFn<T> = () => Promise<T>;

export type DirectiveResolverFn<TResult = Record<PropertyKey, never>, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>, TArgs = Record<PropertyKey, never>> = (
  next: NextResolverFn<TResult>,
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => TResult | Promise<TResult>;




/** Mapping of interface types */
export type ResolversInterfaceTypes<_RefType extends Record<string, unknown>> = ResolversObject<{
  Account: ( UserModel );
  Node:
    | ( PostModel )
    | ( UserModel )
  ;
}>;

/** Mapping between all available schema types and the resolvers types */
export type ResolversTypes = ResolversObject<{
  Account: ResolverTypeWrapper<ResolversInterfaceTypes<ResolversTypes>['Account']>;
  AdminQuery: ResolverTypeWrapper<AdminArea>;
  Boolean: ResolverTypeWrapper<Scalars['Boolean']['output']>;
  ContactResult: ResolverTypeWrapper<ContactResult>;
  ID: ResolverTypeWrapper<Scalars['ID']['output']>;
  Int: ResolverTypeWrapper<Scalars['Int']['output']>;
  IpRiskPolicy: IpRiskPolicy;
  Mutation: ResolverTypeWrapper<Record<PropertyKey, never>>;
  Node: ResolverTypeWrapper<ResolversInterfaceTypes<ResolversTypes>['Node']>;
  Post: ResolverTypeWrapper<PostModel>;
  Query: ResolverTypeWrapper<Record<PropertyKey, never>>;
  RiskInfo: ResolverTypeWrapper<RiskInfo>;
  Session: ResolverTypeWrapper<Omit<Session, 'user'> & { user: ResolversTypes['User'] }>;
  String: ResolverTypeWrapper<Scalars['String']['output']>;
  Subscription: ResolverTypeWrapper<Record<PropertyKey, never>>;
  User: ResolverTypeWrapper<UserModel>;
}>;

/** Mapping between all available schema types and the resolvers parents */
export type ResolversParentTypes = ResolversObject<{
  Account: ResolversInterfaceTypes<ResolversParentTypes>['Account'];
  AdminQuery: AdminArea;
  Boolean: Scalars['Boolean']['output'];
  ContactResult: ContactResult;
  ID: Scalars['ID']['output'];
  Int: Scalars['Int']['output'];
  Mutation: Record<PropertyKey, never>;
  Node: ResolversInterfaceTypes<ResolversParentTypes>['Node'];
  Post: PostModel;
  Query: Record<PropertyKey, never>;
  RiskInfo: RiskInfo;
  Session: Omit<Session, 'user'> & { user: ResolversParentTypes['User'] };
  String: Scalars['String']['output'];
  Subscription: Record<PropertyKey, never>;
  User: UserModel;
}>;

export type IpRiskDirectiveArgs = {
  policy: IpRiskPolicy;
};

export type IpRiskDirectiveResolver<Result, Parent, ContextType = ExampleContext, Args = IpRiskDirectiveArgs> = DirectiveResolverFn<Result, Parent, ContextType, Args>;

export type RequireHumanDirectiveArgs = { };

export type RequireHumanDirectiveResolver<Result, Parent, ContextType = ExampleContext, Args = RequireHumanDirectiveArgs> = DirectiveResolverFn<Result, Parent, ContextType, Args>;

export type RequireLowRiskDirectiveArgs = {
  threshold: Scalars['Int']['input'];
};

export type RequireLowRiskDirectiveResolver<Result, Parent, ContextType = ExampleContext, Args = RequireLowRiskDirectiveArgs> = DirectiveResolverFn<Result, Parent, ContextType, Args>;

export type RequireNotBotDirectiveArgs = { };

export type RequireNotBotDirectiveResolver<Result, Parent, ContextType = ExampleContext, Args = RequireNotBotDirectiveArgs> = DirectiveResolverFn<Result, Parent, ContextType, Args>;

export type AccountResolvers<ContextType = ExampleContext, ParentType extends ResolversParentTypes['Account'] = ResolversParentTypes['Account']> = ResolversObject<{
  __resolveType: TypeResolveFn<'User', ParentType, ContextType>;
}>;

export type AdminQueryResolvers<ContextType = ExampleContext, ParentType extends ResolversParentTypes['AdminQuery'] = ResolversParentTypes['AdminQuery']> = ResolversObject<{
  blockedIps?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  users?: Resolver<Array<ResolversTypes['User']>, ParentType, ContextType>;
}>;

export type ContactResultResolvers<ContextType = ExampleContext, ParentType extends ResolversParentTypes['ContactResult'] = ResolversParentTypes['ContactResult']> = ResolversObject<{
  accepted?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  message?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
}>;

export type MutationResolvers<ContextType = ExampleContext, ParentType extends ResolversParentTypes['Mutation'] = ResolversParentTypes['Mutation']> = ResolversObject<{
  login?: Resolver<ResolversTypes['Session'], ParentType, ContextType, RequireFields<MutationLoginArgs, 'email' | 'password'>>;
  sendContactMessage?: Resolver<ResolversTypes['ContactResult'], ParentType, ContextType, RequireFields<MutationSendContactMessageArgs, 'email' | 'message'>>;
  signup?: Resolver<ResolversTypes['User'], ParentType, ContextType, RequireFields<MutationSignupArgs, 'email'>>;
}>;

export type NodeResolvers<ContextType = ExampleContext, ParentType extends ResolversParentTypes['Node'] = ResolversParentTypes['Node']> = ResolversObject<{
  __resolveType: TypeResolveFn<'Post' | 'User', ParentType, ContextType>;
}>;

export type PostResolvers<ContextType = ExampleContext, ParentType extends ResolversParentTypes['Post'] = ResolversParentTypes['Post']> = ResolversObject<{
  body?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  title?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  __isTypeOf?: IsTypeOfResolverFn<ParentType, ContextType>;
}>;

export type QueryResolvers<ContextType = ExampleContext, ParentType extends ResolversParentTypes['Query'] = ResolversParentTypes['Query']> = ResolversObject<{
  admin?: Resolver<ResolversTypes['AdminQuery'], ParentType, ContextType>;
  myRisk?: Resolver<ResolversTypes['RiskInfo'], ParentType, ContextType>;
  node?: Resolver<Maybe<ResolversTypes['Node']>, ParentType, ContextType, RequireFields<QueryNodeArgs, 'id'>>;
  posts?: Resolver<Array<ResolversTypes['Post']>, ParentType, ContextType>;
  user?: Resolver<Maybe<ResolversTypes['User']>, ParentType, ContextType, RequireFields<QueryUserArgs, 'id'>>;
}>;

export type RiskInfoResolvers<ContextType = ExampleContext, ParentType extends ResolversParentTypes['RiskInfo'] = ResolversParentTypes['RiskInfo']> = ResolversObject<{
  countryCode?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  ip?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  ipKind?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  isDatacenter?: Resolver<Maybe<ResolversTypes['Boolean']>, ParentType, ContextType>;
  isProxy?: Resolver<Maybe<ResolversTypes['Boolean']>, ParentType, ContextType>;
  isTor?: Resolver<Maybe<ResolversTypes['Boolean']>, ParentType, ContextType>;
  isVpn?: Resolver<Maybe<ResolversTypes['Boolean']>, ParentType, ContextType>;
  score?: Resolver<Maybe<ResolversTypes['Int']>, ParentType, ContextType>;
  source?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  status?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
}>;

export type SessionResolvers<ContextType = ExampleContext, ParentType extends ResolversParentTypes['Session'] = ResolversParentTypes['Session']> = ResolversObject<{
  token?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  user?: Resolver<ResolversTypes['User'], ParentType, ContextType>;
}>;

export type SubscriptionResolvers<ContextType = ExampleContext, ParentType extends ResolversParentTypes['Subscription'] = ResolversParentTypes['Subscription']> = ResolversObject<{
  countdown?: SubscriptionResolver<ResolversTypes['Int'], "countdown", ParentType, ContextType, RequireFields<SubscriptionCountdownArgs, 'from'>>;
}>;

export type UserResolvers<ContextType = ExampleContext, ParentType extends ResolversParentTypes['User'] = ResolversParentTypes['User']> = ResolversObject<{
  createdAt?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  email?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  __isTypeOf?: IsTypeOfResolverFn<ParentType, ContextType>;
}>;

export type Resolvers<ContextType = ExampleContext> = ResolversObject<{
  Account?: AccountResolvers<ContextType>;
  AdminQuery?: AdminQueryResolvers<ContextType>;
  ContactResult?: ContactResultResolvers<ContextType>;
  Mutation?: MutationResolvers<ContextType>;
  Node?: NodeResolvers<ContextType>;
  Post?: PostResolvers<ContextType>;
  Query?: QueryResolvers<ContextType>;
  RiskInfo?: RiskInfoResolvers<ContextType>;
  Session?: SessionResolvers<ContextType>;
  Subscription?: SubscriptionResolvers<ContextType>;
  User?: UserResolvers<ContextType>;
}>;

export type DirectiveResolvers<ContextType = ExampleContext> = ResolversObject<{
  ipRisk?: IpRiskDirectiveResolver<any, any, ContextType>;
  requireHuman?: RequireHumanDirectiveResolver<any, any, ContextType>;
  requireLowRisk?: RequireLowRiskDirectiveResolver<any, any, ContextType>;
  requireNotBot?: RequireNotBotDirectiveResolver<any, any, ContextType>;
}>;
