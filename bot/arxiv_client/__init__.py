"""Everything the bot asks arXiv, and the only code that speaks HTTP to it.

`source.ArxivSource` is what the rest of the bot uses: the daily RSS feed (`rss.RssClient`, over
httpx) and a missed day rebuilt through the query API (`api.ApiClient`, through the `arxiv` package
and requests), both under one `common.RequestPolicy` (the shared gate, User-Agent, timeout and
retries).
"""
