"""Every text of the web UI in zh-CN and en, in one place so translations stay complete.

``T["key"].render(locale)``; a test checks that every key has both languages.
"""

from __future__ import annotations

from metricloop.i18n import Text

T: dict[str, Text] = {
    # shell
    "app_name": Text(en="MetricLoop", zh="MetricLoop 指标监控闭环"),
    "tagline": Text(en="Every abnormal metric ends as a verified, reviewed case.",
                    zh="每一次指标异常，都以一个经过验证和复盘的案例结束。"),
    "nav_home": Text(en="Home", zh="首页"),
    "nav_dictionary": Text(en="Metric dictionary", zh="指标字典"),
    "nav_alerts": Text(en="Alerts", zh="预警"),
    "nav_incidents": Text(en="Incidents", zh="事件看板"),
    "nav_cases": Text(en="Case library", zh="案例库"),
    "nav_monitors": Text(en="Monitors", zh="监控配置"),
    "nav_admin": Text(en="Users & roles", zh="用户与角色"),
    "logout": Text(en="Sign out", zh="退出登录"),
    "switch_language": Text(en="中文", zh="English"),
    "signed_in_as": Text(en="Signed in as {user} ({role})", zh="当前用户：{user}（{role}）"),
    "coming_soon": Text(en="This page arrives with the {stage} stage.",
                        zh="该页面将随「{stage}」模块一起上线。"),
    "stage_detection": Text(en="anomaly alerting", zh="异常预警"),
    "stage_workflow": Text(en="action tracking", zh="行动跟进"),
    "stage_review": Text(en="review", zh="结果复盘"),
    "not_found": Text(en="Not found", zh="未找到"),
    "forbidden": Text(en="You may not open this page.", zh="您无权访问此页面。"),
    "error": Text(en="Something went wrong: {message}", zh="出错了：{message}"),
    # login
    "login_title": Text(en="Sign in", zh="登录"),
    "username": Text(en="User name", zh="用户名"),
    "password": Text(en="Password", zh="密码"),
    "login_button": Text(en="Sign in", zh="登录"),
    "login_failed": Text(en="Wrong user name or password.", zh="用户名或密码错误。"),
    "login_expired": Text(en="The form expired; please try again.", zh="表单已过期，请重试。"),
    # home
    "home_title": Text(en="Metric status", zh="指标状态"),
    "home_intro": Text(en="Latest complete day compared with the same weekday last week.",
                       zh="最近一个完整日与上周同日对比。"),
    "loop_health": Text(en="Loop health", zh="闭环健康度"),
    "loop_health_soon": Text(en="MTTA, MTTR, closure and overdue rates appear here once incidents are tracked.",
                             zh="开始跟踪事件后，这里将显示平均确认时长、平均解决时长、闭环率和逾期率。"),
    "data_freshness": Text(en="Data freshness", zh="数据新鲜度"),
    "newest_data": Text(en="newest data {time}", zh="最新数据 {time}"),
    "no_loads": Text(en="no loads recorded", zh="暂无加载记录"),
    "tier_north_star": Text(en="North star", zh="北极星指标"),
    "tier_primary": Text(en="Primary", zh="一级指标"),
    "tier_secondary": Text(en="Secondary", zh="二级指标"),
    "tier_diagnostic": Text(en="Diagnostic", zh="诊断指标"),
    "vs_last_week": Text(en="vs same day last week", zh="较上周同日"),
    "no_value": Text(en="no data", zh="无数据"),
    "hidden_metric": Text(en="not available for your data scope", zh="超出您的数据范围"),
    # dictionary
    "dictionary_title": Text(en="Metric dictionary", zh="指标字典"),
    "search_placeholder": Text(en="Search by name or synonym, e.g. GMV, 销售额, conversion",
                               zh="按名称或同义词搜索，如 GMV、销售额、转化率"),
    "col_metric": Text(en="Metric", zh="指标"),
    "col_name": Text(en="Code", zh="编码"),
    "col_tier": Text(en="Tier", zh="层级"),
    "col_owner": Text(en="Owner", zh="负责人"),
    "col_unit": Text(en="Unit", zh="单位"),
    "col_definition": Text(en="Business definition (口径)", zh="业务口径"),
    "col_synonyms": Text(en="Synonyms", zh="同义词"),
    "results": Text(en="{n} metrics", zh="共 {n} 个指标"),
    "metric_tree": Text(en="Metric tree", zh="指标树"),
    # metric page
    "definition": Text(en="Business definition (口径)", zh="业务口径"),
    "formula": Text(en="Calculation", zh="计算方式"),
    "owners": Text(en="Owners", zh="负责人"),
    "business_owner": Text(en="Business", zh="业务"),
    "technical_owner": Text(en="Technical", zh="技术"),
    "revisions": Text(en="Revisions", zh="版本历史"),
    "dimensions": Text(en="Dimensions", zh="可分析维度"),
    "source": Text(en="Defined in", zh="定义位置"),
    "trend": Text(en="Daily trend", zh="每日趋势"),
    "trend_hint": Text(en="Click a point to see which {dim} moved the number that day.",
                       zh="点击图中某一天，查看当天各{dim}的构成。"),
    "drill_by": Text(en="Break down by", zh="拆解维度"),
    "drill_title": Text(en="{metric} on {day} by {dim}", zh="{day} {metric} 按{dim}拆解"),
    "drill_empty": Text(en="Click a point on the chart to break the day down.", zh="点击图表中的某一天进行拆解。"),
    "share": Text(en="Share", zh="占比"),
    "change_vs_prev": Text(en="vs previous day", zh="较前一日"),
    "value": Text(en="Value", zh="数值"),
    "version_col": Text(en="Version", zh="版本"),
    "change_col": Text(en="Change", zh="变更类型"),
    "author_col": Text(en="Author", zh="作者"),
    "reason_col": Text(en="Reason", zh="原因"),
    "time_col": Text(en="Time", zh="时间"),
    "polarity_higher_is_better": Text(en="higher is better", zh="越高越好"),
    "polarity_lower_is_better": Text(en="lower is better", zh="越低越好"),
    "polarity_neutral": Text(en="neutral", zh="中性"),
    "explanation_soon": Text(en="Automatic cause analysis appears here when the explain stage lands.",
                             zh="自动归因分析将在此显示（原因分析模块上线后）。"),
    "rel_additive": Text(en="adds up (+)", zh="加总（+）"),
    "rel_multiplicative": Text(en="drives (×)", zh="乘积驱动（×）"),
    "rel_ratio_numerator": Text(en="numerator", zh="分子"),
    "rel_ratio_denominator": Text(en="denominator", zh="分母"),
    "rel_ratio": Text(en="ratio", zh="比率"),
    "rel_formula": Text(en="formula input", zh="公式输入"),
    "rel_influence": Text(en="influences", zh="影响因素"),
    "declared": Text(en="declared", zh="人工声明"),
    "unit_currency:CNY": Text(en="yuan (CNY)", zh="人民币元"),
    "unit_percent": Text(en="percent", zh="百分比"),
    "unit_count": Text(en="count", zh="个数"),
    "unit_seconds": Text(en="seconds", zh="秒"),
    # admin
    "admin_title": Text(en="Users and roles", zh="用户与角色"),
    "add_user": Text(en="Add user", zh="添加用户"),
    "role": Text(en="Role", zh="角色"),
    "team": Text(en="Team", zh="团队"),
    "attributes": Text(en="Data scope", zh="数据范围"),
    "active": Text(en="Active", zh="启用"),
    "last_login": Text(en="Last sign-in", zh="最近登录"),
    "display_name": Text(en="Display name", zh="显示名"),
    "save": Text(en="Save", zh="保存"),
    "cancel": Text(en="Cancel", zh="取消"),
    "user_created": Text(en="User {user} created.", zh="已创建用户 {user}。"),
    "row_policies": Text(en="Row-level policies", zh="行级数据权限"),
    "policy_desc": Text(en="{dimension} limited to the user's '{attribute}'",
                        zh="{dimension} 限定为用户的「{attribute}」"),
    "region_scope_hint": Text(en="e.g. region=华东 (comma-separated values; * for all)",
                              zh="例如 region=华东（多个值用逗号分隔；* 表示全部）"),
    "role_admin": Text(en="Administrator", zh="管理员"),
    "role_editor": Text(en="Editor", zh="编辑"),
    "role_owner": Text(en="Metric owner", zh="指标负责人"),
    "role_analyst": Text(en="Analyst", zh="分析师"),
    "role_viewer": Text(en="Viewer", zh="只读用户"),
}


def t(key: str, locale: str | None, **params: object) -> str:
    return T[key].render(locale, **params)


def unit_text(unit: str | None, locale: str | None) -> str:
    """A metric's unit in words (``currency:CNY`` → 人民币元); unknown units as written."""
    if not unit:
        return "–"
    key = f"unit_{unit}"
    return T[key].render(locale) if key in T else unit
