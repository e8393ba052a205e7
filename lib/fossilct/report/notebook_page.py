"""One executed notebook as a self-contained HTML page (nbconvert), its code folded.

JupyterLab's look (the ``lab`` template, its style sheets inlined) with everything that would
load from the network removed: no MathJax, Mermaid or require.js script, no widget manager
(widget outputs such as progress bars are dropped: a page could only show their first frame).
Figures are the notebook's own ``image/png`` outputs, embedded as data. Each code cell sits in a
closed ``<details>`` element: the page reads as prose, numbers and figures, and the code is one
click away. A figure's alternative text is its text form (``<Figure size ... with 2 Axes>``).
"""

from __future__ import annotations

import copy
import html

__all__ = ["notebook_html"]

_WIDGET = "application/vnd.jupyter.widget-view+json"
_TEMPLATE_NAME = "fossilct_page.html.j2"
_TEMPLATE = r"""
{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style type="text/css">
main { max-width: 1100px; margin: 0 auto; }
nav.fossilct { max-width: 1100px; margin: 0.8em auto 0; font: 14px system-ui, sans-serif; }
details.fossilct-code > summary { cursor: pointer; color: #6b7280;
  font: 12px var(--jp-code-font-family, monospace); margin: 2px 0 2px 64px; }
</style>
{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
<nav class="fossilct">{{ resources.fossilct_nav }}</nav>
{%- endblock body_header -%}
{% block data_png scoped -%}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
 alt="{{ output.data.get('text/plain', 'figure') | escape_html }}">
</div>
{%- endblock data_png %}
{% block input_group -%}
<details class="fossilct-code"><summary>code</summary>
{{ super() }}
</details>
{%- endblock input_group %}
"""


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", template_file=_TEMPLATE_NAME,
                        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})])


def notebook_html(notebook, *, title: str, index_href: str = "../index.html") -> str:
    """Render an executed notebook as one offline HTML page with folded code.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        As ``nbformat.read(path, as_version=4)`` returns it; not modified.
    title : str, keyword-only
        The page title (e.g. the task key).
    index_href : str, keyword-only
        Address of the report's index, relative to the page (the link at the top).

    Returns
    -------
    str
        A complete HTML document without external resources.

    Raises
    ------
    TypeError
        If `notebook` is not a notebook (no ``cells``).
    """
    if not hasattr(notebook, "cells") or not hasattr(notebook, "metadata"):
        raise TypeError(f"`notebook` must be an nbformat notebook (nbformat.read(path, "
                        f"as_version=4)); got {type(notebook).__name__}.")
    notebook = copy.deepcopy(notebook)
    notebook.metadata.pop("widgets", None)  # widget state would pull in the widget manager
    for cell in notebook.cells:  # a progress bar's text is its first frame: drop the widget
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if _WIDGET not in o.get("data", {})]
    nav = (f'<a href="{html.escape(index_href)}">← report index</a> · '
           f"{html.escape(title)}")
    body, _ = _exporter().from_notebook_node(
        notebook, resources={"metadata": {"name": title}, "fossilct_nav": nav})
    return body
