-- Size of every audience (and variant) after each run that changed it: entries,
-- exits and the running member count, from the membership history. Feeds size
-- trends in the UI and reporting.
with changes as (
    select
        audience,
        variant,
        changed_at,
        sum(case when change_type = 'entered' then 1 else 0 end) as entered,
        sum(case when change_type = 'left' then 1 else 0 end) as exited
    from {{ ref('audience_membership_history') }}
    group by audience, variant, changed_at
),

final as (
    select
        {{ dbt.concat([
            'audience', "'|'", 'variant', "'|'", dbt.safe_cast('changed_at', dbt.type_string()),
        ]) }} as size_key,
        audience,
        variant,
        changed_at,
        entered,
        exited,
        sum(entered - exited) over (
            partition by audience, variant
            -- changed_at is never null; saying where nulls sort keeps the query
            -- portable (BigQuery rejects the NULLS LAST that DuckDB's default implies).
            order by changed_at nulls first
            rows between unbounded preceding and current row
        ) as members
    from changes
)

select * from final
