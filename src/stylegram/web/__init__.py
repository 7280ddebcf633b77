"""The stylegram studio: a local web app over the public API (``stylegram serve``).

No maths here: the studio turns form fields into ``stylegram.transfer`` options, streams its
``Iterate`` progress to the page and writes the results into per-job folders. Importing this
package does nothing; ``stylegram.web.app.create_app`` builds the app (it needs fastapi).
"""
