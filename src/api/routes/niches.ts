/** Niches: POST /niches, GET /niches, GET /niches/:id. */
import { createNiche, getNiche, listNiches } from '../../repos/niches.js';
import { bodyErrors, createRoute, createRouter, errors, json, type RouterDeps } from '../router.js';
import { apiPage, textCursor } from '../cursors.js';
import { presentPage, toApiNiche } from '../present.js';
import { CreateNiche, IdParam, Niche, NichePage, NicheQuery } from '../schemas.js';

const create = createRoute({
  method: 'post',
  path: '/niches',
  tags: ['niches'],
  summary: 'Create a niche (names are unique)',
  request: { body: { required: true, content: { 'application/json': { schema: CreateNiche } } } },
  responses: { 201: json(Niche, 'created'), ...bodyErrors(409) },
});

const list = createRoute({
  method: 'get',
  path: '/niches',
  tags: ['niches'],
  summary: 'List niches by name',
  request: { query: NicheQuery },
  responses: { 200: json(NichePage, 'a page of niches'), ...errors(400) },
});

const get = createRoute({
  method: 'get',
  path: '/niches/{id}',
  tags: ['niches'],
  summary: 'One niche',
  request: { params: IdParam },
  responses: { 200: json(Niche, 'the niche'), ...errors(404) },
});

export function nichesRouter({ sql }: Pick<RouterDeps, 'sql'>) {
  return createRouter()
    .openapi(create, async (c) => c.json(toApiNiche(await createNiche(sql, c.req.valid('json').name)), 201))
    .openapi(list, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      return c.json(apiPage(presentPage(await listNiches(sql, { limit, cursor: textCursor.toKey(cursor) }), toApiNiche), textCursor), 200);
    })
    .openapi(get, async (c) => c.json(toApiNiche(await getNiche(sql, c.req.valid('param').id)), 200));
}
