"""The assistant (智能问数): a question in Chinese or English becomes a structured request of
the product's own kinds (a metric query, an explanation, a catalog look-up, the open incidents,
similar cases) and is answered through the facade, never through free SQL.

- ``request``: the structured request and its validation against the catalog (shared by the
  offline parser and the optional LLM);
- ``vocab``, ``timephrases``, ``parser``: offline understanding (no IO);
- ``charts``, ``texts``: the chart and the bilingual sentences chosen from the result's shape;
- ``llm``: the optional OpenAI-compatible fallback; ``service``: runs a request as a user.
"""
