import pytest

from include.campaigns.templates import TemplateRenderError, render, template_context

CTX = template_context(
    {"id": 1, "full_name": "Ana María Pérez", "email": "ana@x.mx", "phone": "+525511", "stage": "new", "score": 80},
    {"id": 2, "name": "Preventa", "channel": "whatsapp"},
    {"full_name": "Lucía Romero", "phone": "+5255"},
    {"id": 1, "name": "Inmobiliaria Sol"},
)


def test_renders_lead_agent_campaign_and_broker_fields():
    out = render("Hola {{ lead.first_name }}, soy {{ agent.full_name }} ({{ broker.name }}): {{ campaign.name }}", CTX)
    assert out == "Hola Ana, soy Lucía Romero (Inmobiliaria Sol): Preventa"


def test_undefined_variable_is_an_error_not_a_blank():
    with pytest.raises(TemplateRenderError, match="UndefinedError"):
        render("Hola {{ lead.nickname }}", CTX)
    with pytest.raises(TemplateRenderError, match="UndefinedError"):
        render("Hola {{ customer }}", CTX)


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ lead.__class__.__init__.__globals__ }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{% set x = lead.update({'id': 9}) %}{{ x }}",
])
def test_sandbox_refuses_python_internals_and_mutation(source):
    with pytest.raises(TemplateRenderError):
        render(source, CTX)


def test_syntax_error_is_a_render_error():
    with pytest.raises(TemplateRenderError, match="TemplateSyntaxError"):
        render("Hola {{ lead.first_name ", CTX)


def test_huge_output_is_refused():
    with pytest.raises(TemplateRenderError, match="longer than"):
        render("{% for i in range(5000) %}{{ lead.full_name }}{% endfor %}", CTX)
