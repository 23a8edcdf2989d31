"""GitHub adapter: the httpx transport (``client``) and PR/check-run discovery (``discovery``)."""
