{#- An e-mail address's letters and digits, lowercase:
    'Zoe.Schinke @granit-btp.com' -> 'zoeschinkegranitbtpcom'. Two writings of
    one address that differ by a slip (a space, a doubled or missing @, a dot)
    spell the same. Plain replace() rather than a regular expression, so it
    reads the same on every warehouse. -#}
{% macro identity_email_spelling(expression) -%}
    {%- set ns = namespace(sql='lower(' ~ expression ~ ')') -%}
    {%- for character in ['.', '@', ' ', '-', '_', '+'] -%}
        {%- set ns.sql = dbt.replace(ns.sql, "'" ~ character ~ "'", "''") -%}
    {%- endfor -%}
    {{ ns.sql }}
{%- endmacro %}
